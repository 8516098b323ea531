"""Paths the worker derives from message fields stay inside their root, whatever the sender
(issue 10, item 2): a task id is chosen by whoever sends the message."""
from __future__ import annotations

import os
import uuid

import pytest

from echonote import client, config, names
from echonote.errors import BadInput
from echonote.testing import chaos

pytest.importorskip("numpy", reason="the worker extra is not installed")


def job_kwargs(task: str) -> dict:
    if task == names.DIARIZE:
        return {"audio_path": str(chaos.short_clip(2.0))}
    words = [{"start": 0.0, "end": 0.4, "word": "hello", "probability": 0.9}]  # a transcription, as a chord sends it
    return {"parts": [{"words": words, "duration": 1.0}], "audio_path": "meeting.wav", "formats": ["txt"]}


@pytest.mark.parametrize("task,shape", [(names.DIARIZE, "relative"), (names.DIARIZE, "absolute"),
                                        (names.ATTRIBUTE, "relative")])
def test_a_task_id_that_leaves_the_results_dir_is_refused(stack, tmp_path, task, shape):
    """``result_dir_for()`` joined ``results_dir / task_id``: a message sent by name with
    ``task_id="../../x"`` or ``"/x"`` made the worker write its RTTM and JSON (or transcripts) there."""
    results = config.load().path("results_dir")
    target = tmp_path / f"escaped-{shape}"
    task_id = os.path.relpath(target, results) if shape == "relative" else str(target)
    assert task_id.startswith("../" if shape == "relative" else "/")
    sent = client.celery_app().send_task(task, kwargs=job_kwargs(task), task_id=task_id)
    with pytest.raises(Exception, match="refusing the task id") as refused:
        client.wait(sent.id, timeout=300)
    assert type(refused.value).__name__ == "BadInput" and "path separator" in str(refused.value), str(refused.value)
    assert not target.exists(), f"the worker wrote outside {results}: {sorted(p.name for p in target.rglob('*'))}"
    assert not any(tmp_path.iterdir())
    assert stack.worker_ping("worker", timeout=5)


@pytest.mark.parametrize("name", ["", ".", "..", "../x", "/etc", "a/b", "a\\b", "x\x00y", "tab\tname", "n" * 256,
                                  7, None])
def test_safe_child_refuses_anything_but_a_plain_name(tmp_path, name):
    from echonote.worker.paths import safe_child

    with pytest.raises(BadInput, match="refusing the task id"):
        safe_child(tmp_path, name, "task id")


def test_safe_child_refuses_a_symlink_planted_in_the_root(tmp_path):
    from echonote.worker.paths import safe_child

    root, outside = tmp_path / "results", tmp_path / "elsewhere"
    root.mkdir(), outside.mkdir()
    (root / "planted").symlink_to(outside)
    with pytest.raises(BadInput, match="outside"):
        safe_child(root, "planted", "task id")
    job = str(uuid.uuid4())
    assert safe_child(root, job, "task id") == root.resolve() / job
    assert safe_child(root, "meeting 1 (café).rttm", "output file name").name == "meeting 1 (café).rttm"
