"""Diarization through the real stack: progress, accuracy, one model load per process, clear failures."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from support.probes import heavy_after

from echonote import client, db, names
from echonote.errors import BadInput
from echonote.results import samples

pytest.importorskip("pyannote.audio", reason="the worker extra is not installed")

STEP_ORDER = ["decode", "segmentation", "speaker_counting", "embeddings", "clustering", "write", "done"]


@pytest.fixture(scope="module")
def sample() -> dict[str, Path]:
    return samples.ensure_pyannote_sample()


@pytest.fixture(scope="module")
def single_process_worker(stack):
    """A worker with one pool process on its own queue, so model loads can be counted."""
    stack.start_worker("solo", queues=["solo"], concurrency=1)
    yield "solo"
    stack.stop("solo")


def test_sample_through_the_stack_reports_progress_and_is_accurate(stack, sample):
    from echonote.results.der import evaluate

    job = client.submit(names.DIARIZE, {"audio_path": str(sample["wav"])}, kind="diarize",
                        audio_path=str(sample["wav"]), audio_seconds=30)
    seen: list[client.Progress] = []
    result = client.wait(job.task_id, timeout=600, on_progress=seen.append, poll=0.05)

    progress = [p for p in seen if p.state == "PROGRESS"]
    assert len(progress) >= 2, seen
    percents = [p.percent for p in progress]
    assert percents == sorted(percents), f"progress went backwards: {percents}"
    steps = [STEP_ORDER.index(p.step) for p in progress if p.step in STEP_ORDER]
    assert steps == sorted(steps), [p.step for p in progress]
    assert all(p.total >= p.completed >= 0 for p in progress)

    assert result["num_speakers"] == 2 and result["duration"] == pytest.approx(30, abs=0.1)
    assert result["backend"] == "offline" and result["timings"]["total"] > 0
    der = evaluate(str(sample["rttm"]), result)["der"]
    assert der <= 0.10, f"DER {der:.3f} on the sample"

    row = db.get_job(job.id)
    assert row.status == db.SUCCEEDED and row.result_path == result["result_path"]
    on_disk = json.loads(Path(result["result_path"]).read_text())
    assert on_disk["segments"] == result["segments"]
    assert Path(result["rttm_path"]).read_text().count("SPEAKER ") == len(result["segments"])


def test_models_load_once_across_two_jobs(stack, sample, single_process_worker):
    results = []
    for _ in range(2):
        sent = client.send_by_name(names.DIARIZE, kwargs={"audio_path": str(sample["wav"])}, queue="solo")
        results.append(client.wait(sent.id, timeout=600))
    assert results[0]["worker_pid"] == results[1]["worker_pid"]
    assert results[0]["model_loads"] == results[1]["model_loads"] == 1


@pytest.mark.parametrize("kwargs,expected", [
    ({"audio_path": "/etc/passwd"}, "outside"),
    ({"audio_path": "SAMPLE", "min_speakers": 3, "max_speakers": 2}, "greater than max_speakers"),
    ({"audio_path": "SAMPLE", "num_speakers": -1}, "at least 1"),
    ({"audio_path": 42}, "audio_path must be a non-empty string"),
])
def test_bad_input_fails_once_with_a_clear_message(stack, sample, kwargs, expected):
    kwargs = {k: (str(sample["wav"]) if v == "SAMPLE" else v) for k, v in kwargs.items()}
    job = client.submit(names.DIARIZE, kwargs, kind="diarize")
    with pytest.raises(Exception) as caught:
        client.wait(job.task_id, timeout=120)
    assert type(caught.value).__name__ == "BadInput" and isinstance(caught.value, BadInput)
    assert expected in str(caught.value)
    row = db.get_job(job.id)
    assert row.status == db.FAILED and expected in row.error and row.attempts == 1, "bad input must not be retried"
    assert stack.worker_ping("worker"), "the worker must survive bad input"


def test_missing_file_inside_the_data_root(stack, tmp_path):
    from echonote import config

    missing = config.load().path("data_dir") / "no-such-recording.wav"
    job = client.submit(names.DIARIZE, {"audio_path": str(missing)}, kind="diarize")
    with pytest.raises(BadInput, match="not found|no such|does not exist"):
        client.wait(job.task_id, timeout=120)


def test_cli_diarize_local_and_remote_agree(stack, sample, tmp_path):
    env = dict(os.environ)
    outputs = {}
    for mode in ("remote", "local"):
        args = [str(sample["wav"]), "--json", str(tmp_path / f"{mode}.json")] + (["--local"] if mode == "local" else [])
        done = subprocess.run([sys.executable, "-m", "echonote", "diarize", *args], env=env,
                              capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stderr
        assert "2 speaker(s)" in done.stdout
        # one kind of bar either way: weighted percent, the step, and an ETA (--local drew click's own bar before)
        assert re.search(r"embeddings \d+/\d+  eta \d+:\d\d", done.stderr), (mode, done.stderr[-2000:])
        outputs[mode] = json.loads((tmp_path / f"{mode}.json").read_text())
    from echonote.results.der import evaluate

    ders = {mode: evaluate(str(sample["rttm"]), out)["der"] for mode, out in outputs.items()}
    assert abs(ders["remote"] - ders["local"]) <= 0.005, ders


def test_light_client_diarize_imports_no_torch():
    assert heavy_after("import echonote.cli, echonote.cli.diarize, echonote.client.terminal, echonote.client.uploads, "
                       "echonote.results.samples, echonote.client.audio_info") == []
