"""Speaker-attributed transcription through the real stack: a chord built from task names only."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.cli_runs import run_cli
from support.probes import heavy_after

from echonote import client, db, names
from echonote.client import canvas
from echonote.results import samples
from echonote.results import scoring as transcript_scoring

pytest.importorskip("faster_whisper", reason="the worker extra is not installed")


@pytest.fixture(scope="module")
def sample():
    return samples.ensure_pyannote_sample()


def test_canvas_by_names_returns_an_attributed_transcript(stack, sample):
    job, parts = canvas.submit_transcript(str(sample["wav"]), audio_seconds=30)
    assert set(parts) == {names.DIARIZE, names.TRANSCRIBE, names.ATTRIBUTE}
    result = client.wait(job.task_id, timeout=900)

    score = transcript_scoring.score_transcript(result["words"], sample["stm"])
    assert score["wer"] <= 0.30, score
    speakers = {w["speaker"] for w in result["words"] if w["speaker"]}
    assert len(speakers) == 2, speakers
    assert result["utterances"] and all(u["speaker"] in speakers for u in result["utterances"])

    files = result["files"]
    assert set(files) == {"txt", "srt", "vtt", "json"}
    import srt
    import webvtt

    srt_cues = list(srt.parse(Path(files["srt"]).read_text()))
    vtt_cues = webvtt.read(files["vtt"])
    assert len(srt_cues) == len(vtt_cues) >= len(result["utterances"])  # long utterances split into several cues
    assert all((c.end - c.start).total_seconds() <= 7.0 for c in srt_cues)
    assert {c.voice for c in vtt_cues} <= {u["speaker"] for u in result["utterances"]}
    assert json.loads(Path(files["json"]).read_text())["words"] == result["words"]
    assert all(line.split(":", 1)[0] in speakers for line in Path(files["txt"]).read_text().splitlines() if line)

    row = db.get_job(job.id)
    assert row.kind == "transcript" and row.status == db.SUCCEEDED and row.result_path == files["json"]
    for name in (names.DIARIZE, names.TRANSCRIBE):
        assert client.celery_app().AsyncResult(parts[name]).state == "SUCCESS"


def test_cli_transcribe_through_the_stack(stack, sample, tmp_path):
    done = run_cli("transcribe", str(sample["wav"]), "--format", "srt", "--format", "txt", "--out", str(tmp_path),
                   timeout=900)
    assert done.returncode == 0, done.stderr
    assert "-->" in done.stdout  # the SRT, printed first
    assert {p.suffix for p in tmp_path.iterdir()} == {".srt", ".txt"}
    assert "speakers: " in done.stderr


def test_cli_transcribe_bad_input(stack, tmp_path):
    text = tmp_path / "notes.wav"
    text.write_text("not audio at all\n" * 50)
    done = run_cli("transcribe", str(text), timeout=300)
    assert done.returncode == 1 and "not a recognised audio file" in done.stderr and "Traceback" not in done.stderr


def test_light_transcript_client_imports_no_heavy_code():
    assert heavy_after("import echonote.client.canvas, echonote.cli.transcribe, echonote.results.transcripts, "
                       "echonote.results.attribution, echonote.results.formats, echonote.results.scoring") == []
