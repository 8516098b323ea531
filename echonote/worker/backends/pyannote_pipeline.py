"""The ``pyannote`` backend: any pyannote.audio diarization pipeline, from the hub or from disk.

``pipeline`` is a hub id (e.g. ``pyannote/speaker-diarization-community-1``, needs a
token and network), a local pipeline directory, or a ``config.yaml`` path (works
offline). A pipeline config names Python classes that get instantiated, so only
pyannote's own pipeline classes are accepted from local configs unless
``trust_config=True``.

:func:`write_offline_pipeline_dir` writes such a directory from the bundled
weights, laid out like the downloaded community-1 pipeline (``config.yaml`` plus
``segmentation/``, ``embedding/`` and ``plda/`` subfolders), so the code path a
user with a downloaded pipeline runs is exercised without hub access.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "false")

from echonote.worker.backends import Hook, configure_threads, package_versions, select_device  # noqa: E402

__all__ = ["DEFAULT_PIPELINE_ID", "PyannotePipelineBackend", "PipelineLoadError", "write_offline_pipeline_dir"]

DEFAULT_PIPELINE_ID = "pyannote/speaker-diarization-community-1"
TRUSTED_PIPELINE_PREFIXES = ("pyannote.audio.pipelines.",)


class PipelineLoadError(RuntimeError):
    """The requested pyannote pipeline could not be loaded; the message says how to fix it."""


def _config_path(source: Path) -> Path:
    return source / "config.yaml" if source.is_dir() else source


def _check_trusted(config_file: Path) -> None:
    import yaml

    try:
        config = yaml.safe_load(config_file.read_text()) or {}
        name = str(config["pipeline"]["name"])
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        raise PipelineLoadError(
            f"{config_file} is not a valid pyannote pipeline config ({exc}). It needs a "
            f"'pipeline: {{name: ..., params: ...}}' section."
        ) from None
    if not name.startswith(TRUSTED_PIPELINE_PREFIXES):
        raise PipelineLoadError(
            f"{config_file} asks for pipeline class {name!r}, which is not one of pyannote's own pipelines. "
            f"Loading it would run arbitrary code; pass trust_config=True only if you trust this file."
        )


def _file_hashes(folder: Path) -> dict[str, str]:
    from echonote.worker.weights import sha256_file

    return {str(p.relative_to(folder)): sha256_file(p) for p in sorted(folder.rglob("*"))
            if p.is_file() and p.suffix in {".bin", ".yaml", ".npz", ".ckpt", ".onnx", ".pt"}}


def load_pipeline(pipeline: str | os.PathLike, token: str | None = None, cache_dir: str | None = None,
                  trust_config: bool = False):
    """Load a pyannote pipeline from a local directory / config.yaml, or from the hub by id."""
    from pyannote.audio import Pipeline

    local = Path(pipeline).expanduser()
    if local.exists():
        config_file = _config_path(local)
        if not config_file.is_file():
            raise PipelineLoadError(f"No config.yaml in {local}. Point to a pyannote pipeline directory.")
        if not trust_config:
            _check_trusted(config_file)
        loaded = Pipeline.from_pretrained(str(local))
    else:
        text = str(pipeline)
        if text.startswith((".", "/", "~")) or text.count("/") != 1 or text.endswith((".yaml", ".yml")):
            raise PipelineLoadError(
                f"Pipeline {text!r} is neither an existing local path nor a hub id like 'owner/name'. "
                f"Check the path."
            )
        try:
            loaded = Pipeline.from_pretrained(str(pipeline), token=token, cache_dir=cache_dir)
        except Exception as exc:  # hub errors come in many types
            loaded, error = None, exc
        else:
            error = None
        if loaded is None:
            raise PipelineLoadError(
                f"Could not load pipeline {str(pipeline)!r} from the model hub"
                f"{f' ({error})' if error else ''}. Accept its user conditions and set a token "
                f"(HF_TOKEN), or download it once and pass the local directory instead."
            )
    return loaded


class PyannotePipelineBackend:
    """Run a full pyannote pipeline (community-1 or any compatible one)."""

    name = "pyannote"

    def __init__(self, pipeline: str | None = None, token: str | None = None, cache_dir: str | None = None,
                 device: str | None = None, trust_config: bool = False, hyperparameters: dict | None = None):
        configure_threads()
        self.source = str(pipeline or os.environ.get("ECHONOTE_PYANNOTE_PIPELINE") or DEFAULT_PIPELINE_ID)
        token = token or os.environ.get("HF_TOKEN") or None
        self.pipeline = load_pipeline(self.source, token=token, cache_dir=cache_dir, trust_config=trust_config)
        if hyperparameters:
            self.pipeline.instantiate(hyperparameters)
        self.pipeline.to(select_device(device))
        self.device = str(getattr(self.pipeline, "device", "cpu"))
        local = Path(self.source).expanduser()
        self.models = {"pipeline": self.source}
        if local.exists():
            self.models["files"] = _file_hashes(local if local.is_dir() else local.parent)

    def diarize(self, waveform, *, num_speakers: int | None = None, min_speakers: int | None = None,
                max_speakers: int | None = None, hook: Hook | None = None):
        from echonote.worker.backends.offline import run_pipeline

        annotation = run_pipeline(self.pipeline, waveform, num_speakers=num_speakers, min_speakers=min_speakers,
                                  max_speakers=max_speakers, hook=hook)
        try:
            parameters: Any = self.pipeline.parameters(instantiated=True)
        except Exception:  # not every pipeline is instantiated the same way
            parameters = {}
        metadata = {
            "backend": self.name,
            "models": self.models,
            "versions": package_versions(),
            "parameters": {"pipeline_class": type(self.pipeline).__name__, "hyperparameters": parameters},
            "device": self.device,
        }
        return annotation, metadata


def write_offline_pipeline_dir(path: str | os.PathLike, *, pipeline: dict | None = None,
                               embedding: dict | None = None, hyperparameters: dict | None = None) -> Path:
    """Write a pyannote pipeline directory (config.yaml + weights) equivalent to the offline backend.

    Segmentation is the bundled segmentation-3.0 checkpoint, the embedding is the CAM++
    wrapper saved as a pyannote checkpoint, and ``plda/`` holds an identity PLDA that
    only satisfies pyannote's loader (agglomerative clustering does not use it). The
    config names pyannote's stock ``SpeakerDiarization``, which embeds every window
    (no ``embedding_stride``), so it is slower than the offline backend.
    """
    import numpy as np
    import pyannote.audio
    import yaml

    from echonote.worker.backends.offline import (
        DEFAULT_EMBEDDING,
        DEFAULT_HYPERPARAMETERS,
        DEFAULT_PIPELINE,
        inert_plda_arrays,
        merge,
    )
    from echonote.worker.campplus import load_campplus, save_pyannote_checkpoint
    from echonote.worker.weights import bundled_path

    root = Path(path)
    (root / "segmentation").mkdir(parents=True, exist_ok=True)
    (root / "plda").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(bundled_path("segmentation-3.0"), root / "segmentation" / "pytorch_model.bin")
    model = load_campplus(**merge(DEFAULT_EMBEDDING, embedding))
    save_pyannote_checkpoint(model, root / "embedding" / "pytorch_model.bin")
    transform, plda = inert_plda_arrays(model.dimension)
    np.savez(root / "plda" / "xvec_transform.npz", **transform)
    np.savez(root / "plda" / "plda.npz", **plda)

    structure = merge(DEFAULT_PIPELINE, pipeline)
    structure.pop("embedding_stride", None)  # echonote's stitching; pyannote's own class embeds every window
    config = {
        "dependencies": {"pyannote.audio": pyannote.audio.__version__},
        "pipeline": {
            "name": "pyannote.audio.pipelines.SpeakerDiarization",
            "params": {
                "segmentation": "$model/segmentation",
                "embedding": "$model/embedding",
                "plda": "$model/plda",
                **structure,
            },
        },
        "params": merge(DEFAULT_HYPERPARAMETERS, hyperparameters),
    }
    (root / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return root
