"""The ``pyannote`` backend: any pyannote.audio diarization pipeline, from the hub or from disk.

``pipeline`` is a hub id (e.g. ``pyannote/speaker-diarization-community-1``, needs a
token and network), a local pipeline directory, or a ``config.yaml`` path (works
offline). A pipeline config names Python classes that get instantiated and its
checkpoints are pickles, so a local pipeline is not trusted unless
``trust_config=True``: every class it names, anywhere in the config or in a
checkpoint, must be a pyannote.audio (or echonote) pipeline or model class, and
every checkpoint is loaded as tensors and plain data only (``weights_only``).

:func:`write_offline_pipeline_dir` writes such a directory from the bundled
weights, laid out like the downloaded community-1 pipeline (``config.yaml`` plus
``segmentation/``, ``embedding/`` and ``plda/`` subfolders), so the code path a
user with a downloaded pipeline runs is exercised without hub access.
"""

from __future__ import annotations

import importlib
import io
import os
import re
import shutil
from pathlib import Path
from typing import Any

from echonote.worker.backends import Hook, configure_threads, package_versions, select_device

__all__ = ["DEFAULT_PIPELINE_ID", "PyannotePipelineBackend", "PipelineLoadError", "write_offline_pipeline_dir"]

DEFAULT_PIPELINE_ID = "pyannote/speaker-diarization-community-1"
#: where the classes an untrusted pipeline config or checkpoint may name live; they must also be
#: pyannote Pipeline or Model subclasses (a function, or any other class, is refused)
TRUSTED_CLASS_PREFIXES = ("pyannote.audio.pipelines.", "pyannote.audio.models.", "echonote.worker.")
#: hub repositories an untrusted local config may pull models from
TRUSTED_HUB_OWNERS = ("pyannote/",)
MODEL_FILE = "pytorch_model.bin"
_PICKLED_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")  # how torch's weights_only loader names what it refused
_HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+(@[\w.-]+)?$")
_OPT_IN = ("If you trust every file of this pipeline as you would trust code, opt in with trust_config=True "
           "(PyannotePipelineBackend(..., trust_config=True)).")


class PipelineLoadError(RuntimeError):
    """The requested pyannote pipeline could not be loaded; the message says how to fix it."""


def _config_path(source: Path) -> Path:
    return source / "config.yaml" if source.is_dir() else source


def _refused(source: Path, what: str) -> PipelineLoadError:
    return PipelineLoadError(f"{source}: {what}. Loading it could run arbitrary code, so it is refused. {_OPT_IN}")


def _trusted_class(name, where: str, source: Path, *bases: type) -> type:
    """The class ``name`` refers to, if it lives under TRUSTED_CLASS_PREFIXES and subclasses one of ``bases``."""
    if not isinstance(name, str) or not name.startswith(TRUSTED_CLASS_PREFIXES):
        raise _refused(source, f"{where} names {name!r}, which is not one of pyannote's own pipelines or models")
    module, _, attr = name.rpartition(".")
    try:
        found = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise PipelineLoadError(f"{source}: {where} names {name!r}, which does not exist ({exc}). "
                                "Check the name.") from None
    if not (isinstance(found, type) and issubclass(found, bases)):
        kinds = " or ".join(base.__name__ for base in bases)
        raise _refused(source, f"{where} names {name!r}, which is not a pyannote {kinds} class")
    return found


def _read_config(config_file: Path) -> dict:
    import yaml

    try:
        config = yaml.safe_load(config_file.read_text()) or {}
        config["pipeline"]["name"]
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        raise PipelineLoadError(
            f"{config_file} is not a valid pyannote pipeline config ({exc}). It needs a "
            f"'pipeline: {{name: ..., params: ...}}' section."
        ) from None
    return config


def _check_classes(config: dict, config_file: Path) -> None:
    """Every class the config names (the pipeline, preprocessors, any other ``name:``) must be trusted."""
    from pyannote.audio import Model, Pipeline

    _trusted_class(config["pipeline"]["name"], "pipeline.name", config_file, Pipeline)
    preprocessors = config.get("preprocessors") or {}
    for key, value in preprocessors.items() if isinstance(preprocessors, dict) else [("", preprocessors)]:
        if not isinstance(value, dict):  # pyannote reads it as a pyannote.database file, which can name code
            raise _refused(config_file, f"preprocessors.{key} is {value!r}, not a class")
    stack = [(k, v) for k, v in config.items() if k != "pipeline"]
    stack.append(("pipeline.params", config["pipeline"].get("params")))
    while stack:
        where, value = stack.pop()
        if isinstance(value, dict):
            if "name" in value:
                _trusted_class(value["name"], f"{where}.name", config_file, Pipeline, Model)
            stack.extend((f"{where}.{k}", v) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((f"{where}[{i}]", v) for i, v in enumerate(value))


def _checkpoint_globals() -> list:
    """The classes pyannote's own checkpoints pickle besides tensors (allowed with ``weights_only=True``)."""
    from pyannote.audio.core.task import Problem, Resolution, Specifications
    from torch.torch_version import TorchVersion

    return [TorchVersion, Specifications, Problem, Resolution]


def load_checked_model(path: Path, source: Path):
    """Load a model checkpoint with ``weights_only=True`` semantics: refuse any pickled object that is
    not a tensor or plain data, check the architecture class it names, then build the model from
    the very bytes that were checked (so the file cannot change in between)."""
    import torch
    from pyannote.audio import Model

    file = path / MODEL_FILE if path.is_dir() else path
    data = file.read_bytes()
    try:
        with torch.serialization.safe_globals(_checkpoint_globals()):
            checkpoint = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        architecture = checkpoint["pyannote.audio"]["architecture"]
        name = f"{architecture['module']}.{architecture['class']}"
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError... for what it refuses
        named = _PICKLED_GLOBAL.search(str(exc))
        detail = f"it pickles a reference to {named.group(1)}" if named else f"{type(exc).__name__}: {exc}"
        raise _refused(source, f"checkpoint {file} is not a plain pyannote checkpoint (tensors and data only); "
                               f"{detail}") from None
    _trusted_class(name, f"checkpoint {file}", source, Model)
    return Model.from_pretrained(io.BytesIO(data), strict=False)


def _local_model(value) -> Path | None:
    """The local checkpoint (a file, or a folder with pytorch_model.bin) a config value points to, if any.

    Paths are taken as pyannote takes them: ``$model/x`` (already expanded to a mapping) under the
    pipeline folder, anything else as written (relative to the working directory)."""
    if isinstance(value, dict) and isinstance(value.get("checkpoint"), (str, Path)):
        path = Path(value["checkpoint"]).expanduser() / (value.get("subfolder") or "")
    elif isinstance(value, str) and value:
        path = Path(value).expanduser()
    else:
        return None
    return path if path.is_file() or (path / MODEL_FILE).is_file() else None


def _preload_models(config, config_file: Path) -> None:
    """Replace every local model reference in ``config`` by a model loaded through
    :func:`load_checked_model`; refuse hub repositories outside TRUSTED_HUB_OWNERS."""
    items = config.items() if isinstance(config, dict) else enumerate(config)
    for key, value in list(items):
        local = _local_model(value)
        hub = value.get("checkpoint") if isinstance(value, dict) else value
        if local is not None:
            config[key] = load_checked_model(local, config_file)
        elif isinstance(hub, str) and _HUB_ID.match(hub) and not hub.startswith(TRUSTED_HUB_OWNERS):
            raise _refused(config_file, f"{key} would load {hub!r} from the model hub, outside {TRUSTED_HUB_OWNERS}")
        elif isinstance(value, (dict, list)):
            _preload_models(value, config_file)


def _load_untrusted(local: Path, config_file: Path, token: str | None, cache_dir: str | None):
    """Load a local pipeline without trusting it: classes checked, checkpoints loaded as plain data."""
    from pyannote.audio import Pipeline
    from pyannote.audio.core.pipeline import expand_subfolders

    config = _read_config(config_file)
    _check_classes(config, config_file)
    expand_subfolders(config, config_file.parent.resolve(), token=token, cache_dir=cache_dir)
    _preload_models(config, config_file)
    return Pipeline.from_pretrained(config, token=token, cache_dir=cache_dir)


def _file_hashes(folder: Path) -> dict[str, str]:
    from echonote.worker.weights import sha256_file

    return {str(p.relative_to(folder)): sha256_file(p) for p in sorted(folder.rglob("*"))
            if p.is_file() and p.suffix in {".bin", ".yaml", ".npz", ".ckpt", ".onnx", ".pt"}}


def load_pipeline(pipeline: str | os.PathLike, token: str | None = None, cache_dir: str | None = None,
                  trust_config: bool = False):
    """Load a pyannote pipeline from a local directory / config.yaml, or from the hub by id.

    A local pipeline is not trusted unless ``trust_config=True``: only pyannote's (and echonote's)
    pipeline and model classes may be named, and checkpoints are loaded as tensors and plain data.
    """
    from pyannote.audio import Pipeline

    local = Path(pipeline).expanduser()
    if local.exists():
        config_file = _config_path(local)
        if not config_file.is_file():
            raise PipelineLoadError(f"No config.yaml in {local}. Point to a pyannote pipeline directory.")
        if trust_config:
            loaded = Pipeline.from_pretrained(str(local))
        else:
            loaded = _load_untrusted(local, config_file, token, cache_dir)
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
                 device: str | None = None, trust_config: bool = False, hyperparameters: dict | None = None,
                 torch_threads: int = 0):
        configure_threads(torch_threads)
        self.source = str(pipeline or DEFAULT_PIPELINE_ID)
        # HF_TOKEN is the hub's own documented variable, the fallback huggingface_hub itself would use
        # (not an echonote setting: ECHONOTE_HF_TOKEN arrives as ``token``).
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
    (no ``embedding_stride``), so it is slower than the offline backend, and has neither the
    relative minimum cluster size nor the silero-vad speech fill (pyannote's own classes only).
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
    params = merge(DEFAULT_HYPERPARAMETERS, hyperparameters)
    if structure.get("clustering") == "RelativeAgglomerativeClustering":  # echonote's; pyannote has the fixed rule
        structure["clustering"] = "AgglomerativeClustering"
        params["clustering"].pop("min_cluster_fraction", None)
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
        "params": params,
    }
    (root / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return root
