"""Backends on real audio with the real bundled models (no mocks)."""

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("pyannote.audio")

from echonote.results.der import evaluate  # noqa: E402
from echonote.worker.backends import get_backend, model_loads  # noqa: E402
from echonote.worker.diarize_core import run_diarization  # noqa: E402
from echonote.worker.outputs import write_json, write_rttm  # noqa: E402


def test_offline_backend_on_sample(sample_wav, sample_rttm):
    waveform, _ = sf.read(sample_wav, dtype="float32")
    annotation, metadata = get_backend("offline").diarize(waveform)
    scores = evaluate(sample_rttm, annotation)
    assert scores["der"] <= 0.10, scores
    assert evaluate(sample_rttm, annotation, collar=0.25)["der"] <= 0.05
    assert len(annotation.labels()) == 2
    assert annotation.get_timeline().extent().end <= 30.0
    assert metadata["backend"] == "offline" and metadata["device"] == "cpu"
    assert {m["sha256"] for m in metadata["models"].values()} and metadata["versions"]["pyannote.audio"]


def test_models_load_once_across_jobs(sample_wav):
    before = model_loads("offline")
    first = run_diarization(sample_wav)
    after_first = model_loads("offline")
    second = run_diarization(sample_wav, num_speakers=2)
    assert after_first - before <= 1
    assert model_loads("offline") == after_first
    assert first["num_speakers"] == second["num_speakers"] == 2


def test_job_result_and_files(sample_wav, sample_rttm, tmp_path):
    steps = []
    result = run_diarization(sample_wav, progress=lambda *args: steps.append(args))
    assert result["note"] is None and result["duration"] == 30.0
    assert 0 < result["overlap"] < result["speech"] <= 30.0
    assert set(result["timings"]) >= {"decode", "diarize", "total"}
    names = [s[0] for s in steps]
    assert names[0] == "decode" and names[-1] == "done" and "segmentation" in names and "embeddings" in names
    assert all(0 <= done <= total for _, done, total in steps)

    rttm = write_rttm(result, tmp_path / "out" / "sample.rttm", uri="sample")
    write_json(result, tmp_path / "out" / "sample.json")
    assert evaluate(sample_rttm, rttm)["der"] == pytest.approx(evaluate(sample_rttm, result)["der"], abs=1e-3)
    import json

    assert json.loads((tmp_path / "out" / "sample.json").read_text())["segments"] == result["segments"]


def test_silence_gives_no_speakers_and_a_note(tmp_path):
    path = tmp_path / "silence.wav"
    sf.write(path, np.zeros(16000 * 12, dtype="float32"), 16000)
    result = run_diarization(path)
    assert result["segments"] == [] and result["speakers"] == [] and result["note"] == "no speech found"


@pytest.mark.parametrize("kwargs,message", [
    ({"num_speakers": -1}, "at least 1"),
    ({"num_speakers": 2.5}, "whole number"),
    ({"min_speakers": "2"}, "whole number"),
    ({"max_speakers": True}, "whole number"),
    ({"min_speakers": 3, "max_speakers": 2}, "greater than max_speakers"),
    ({"num_speakers": 5, "max_speakers": 3}, "contradicts"),
])
def test_speaker_options_are_validated(sample_wav, kwargs, message):
    with pytest.raises(ValueError, match=message):
        run_diarization(sample_wav, **kwargs)


def test_pyannote_backend_from_written_pipeline_dir(tmp_path, sample_wav, sample_rttm):
    from echonote.worker.backends.pyannote_pipeline import write_offline_pipeline_dir

    folder = write_offline_pipeline_dir(tmp_path / "pipeline")
    assert (folder / "config.yaml").is_file() and (folder / "embedding" / "pytorch_model.bin").is_file()
    result = run_diarization(sample_wav, backend="pyannote", backend_options={"pipeline": str(folder)})
    assert result["backend"] == "pyannote" and "config.yaml" in result["models"]["files"]
    assert evaluate(sample_rttm, result)["der"] <= 0.10


def test_untrusted_pipeline_config_is_refused(tmp_path):
    from echonote.worker.backends.pyannote_pipeline import PipelineLoadError, PyannotePipelineBackend

    (tmp_path / "config.yaml").write_text("pipeline:\n  name: os.system\n  params: {command: 'true'}\n")
    with pytest.raises(PipelineLoadError, match="not one of pyannote's own pipelines"):
        PyannotePipelineBackend(pipeline=str(tmp_path))


def test_unknown_backend():
    with pytest.raises(ValueError, match="Unknown diarization backend"):
        get_backend("nope")


def test_offline_backend_holds_what_the_settings_say():
    """Built from config.load() through backend_options: the device and torch's thread count are the settings'."""
    import torch

    from echonote import config
    from echonote.worker.backend_options import diarization_options

    threads = torch.get_num_threads()
    cfg = config.load({"ECHONOTE_DEVICE": "cpu", "ECHONOTE_TORCH_THREADS": str(threads)})
    backend = get_backend("offline", **diarization_options("offline", cfg))
    assert backend.device == "cpu" and torch.get_num_threads() == threads
    assert get_backend("offline", **diarization_options("offline", cfg)) is backend, "one load per settings"


def test_torch_threads_and_device_follow_the_one_rule():
    import torch

    from echonote.worker.backends import configure_threads, select_device
    from echonote.worker.devices import resolve_device

    before = torch.get_num_threads()
    try:
        configure_threads(1)
        assert torch.get_num_threads() == 1
        configure_threads(0)  # 0 = leave torch's choice alone
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    gpus = torch.cuda.device_count()
    assert select_device("auto") == torch.device(resolve_device("auto", gpus))
    if not gpus:
        with pytest.raises(ValueError, match="no CUDA GPU is visible"):
            select_device("cuda")

