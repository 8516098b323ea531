"""Scoring on hand-made annotations, and the synthetic conversation generator."""

import shutil

import pytest

pytest.importorskip("pyannote.metrics")

from pyannote.core import Annotation  # noqa: E402
from support.annotations import annotation  # noqa: E402
from support.probes import heavy_after  # noqa: E402

from echonote.results.der import evaluate  # noqa: E402


def test_perfect_and_empty_hypotheses():
    ref = annotation((0, 4, "a"), (4, 10, "b"))
    assert evaluate(ref, annotation((0, 4, "S1"), (4, 10, "S2")))["der"] == 0.0
    empty = evaluate(ref, Annotation(uri="x"))
    assert empty["missed"] == 1.0 and empty["der"] == 1.0 and empty["jer"] == 1.0


def test_der_parts_and_collar_and_uem():
    ref = annotation((0, 4, "a"), (4, 10, "b"))
    hyp = annotation((0, 5, "A"), (5, 9, "B"))  # 1 s confusion, 1 s missed
    scores = evaluate(ref, hyp)
    assert scores["confusion"] == pytest.approx(0.1) and scores["missed"] == pytest.approx(0.1)
    assert scores["false_alarm"] == 0.0 and scores["der"] == pytest.approx(0.2)
    assert evaluate(ref, hyp, collar=2.0)["confusion"] == 0.0
    assert evaluate(ref, hyp, uem=(0, 4))["der"] == 0.0


def test_import_is_light():
    assert heavy_after("import echonote.results.der") == []  # pyannote.metrics loads only when scoring


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_synth_is_deterministic_and_consistent(tmp_path):
    from echonote.testing.synth import main

    assert main(["--out", str(tmp_path / "a"), "--n", "1", "--seed", "3", "--duration", "20"]) == 0
    assert main(["--out", str(tmp_path / "b"), "--n", "1", "--seed", "3", "--duration", "20"]) == 0
    wav_a = (tmp_path / "a" / "synth003_000.wav").read_bytes()
    assert wav_a == (tmp_path / "b" / "synth003_000.wav").read_bytes()
    rttm = (tmp_path / "a" / "synth003_000.rttm").read_text().splitlines()
    speakers = {line.split()[7] for line in rttm}
    assert 2 <= len(speakers) <= 5 and all(float(line.split()[4]) > 0 for line in rttm)
    assert (tmp_path / "a" / "synth003_000.stm").read_text().strip()
    assert evaluate(tmp_path / "a" / "synth003_000.rttm", tmp_path / "a" / "synth003_000.rttm")["der"] == 0.0


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_conversation_file_is_written_once_and_reused(tmp_path):
    """Benchmarks ask for the same conversation every run: it is generated the first time only."""
    from echonote.testing.synth import conversation_file

    wav = conversation_file(tmp_path, "once", 3, duration=8.0, num_speakers=2, tract_spread=0.2)
    assert wav.is_file() and wav.with_suffix(".rttm").read_text().count("SPEAKER") >= 2
    written = wav.stat().st_mtime_ns
    assert conversation_file(tmp_path, "once", 3, duration=8.0, num_speakers=2, tract_spread=0.2) == wav
    assert wav.stat().st_mtime_ns == written
