"""A job's files: written whole or not at all, retried a few times, and the failure names the folder."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytest.importorskip("numpy", reason="the worker extra is not installed")

from echonote.errors import BadInput  # noqa: E402
from echonote.worker import outputs  # noqa: E402


def test_json_and_rttm_are_written_and_leave_no_temporary_files(tmp_path):
    result = {"segments": [{"start": 0.5, "end": 1.25, "speaker": "SPEAKER 00"}]}
    outputs.write_json(result, tmp_path / "a.json")
    outputs.write_rttm(result, tmp_path / "a.rttm", uri="my talk")
    assert json.loads((tmp_path / "a.json").read_text()) == result
    assert (tmp_path / "a.rttm").read_text() == "SPEAKER my_talk 1 0.500 0.750 <NA> <NA> SPEAKER_00 <NA> <NA>\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "a.rttm"]


def test_a_write_that_keeps_failing_is_tried_three_times_then_names_the_folder(tmp_path, monkeypatch):
    tries = []

    def refuse(target, text):
        tries.append(target)
        raise OSError(13, "Permission denied")

    monkeypatch.setattr(outputs, "_write_once", refuse)
    with pytest.raises(outputs.ResultWriteError, match="after 3 tries") as failed:
        outputs.atomic_write(tmp_path / "r.json", "{}", pause=0)
    assert len(tries) == outputs.WRITE_TRIES == 3
    assert str(tmp_path) in str(failed.value) and "ECHONOTE_RESULTS_DIR" in str(failed.value)


def test_a_write_that_fails_once_succeeds_on_the_next_try(tmp_path, monkeypatch):
    real, calls = outputs._write_once, []

    def flaky(target, text):
        calls.append(target)
        if len(calls) == 1:
            raise OSError(28, "No space left on device")
        return real(target, text)

    monkeypatch.setattr(outputs, "_write_once", flaky)
    assert outputs.atomic_write(tmp_path / "r.json", "{}", pause=0).read_text() == "{}"
    assert len(calls) == 2


def test_output_path_refuses_a_name_that_leaves_the_folder(tmp_path):
    assert outputs.output_path(tmp_path, "talk", ".rttm") == tmp_path.resolve() / "talk.rttm"
    with pytest.raises(BadInput, match="output file name"):
        outputs.output_path(tmp_path, "../talk", ".rttm")


def test_transcription_does_not_walk_through_diarization():
    """Transcription imported diarization and diarize_core for the shared decode step, result fields and writes."""
    probe = ("import sys, echonote.worker.transcribe_core, echonote.worker.transcription; "
             "print(sorted(m for m in sys.modules if m.startswith('echonote.worker.diar')))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "[]", done.stdout
