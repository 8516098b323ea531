"""Where a model runs: the one rule for ECHONOTE_DEVICE, shared by diarization (torch) and transcription (CTranslate2).

``config.load()`` has already checked the spelling (auto, cpu, cuda, cuda:N); this
module turns the choice into a concrete device given how many GPUs the library
sees, so a request for a GPU that is not there fails the same way for both.
"""
from __future__ import annotations

from echonote.config import parse_device

__all__ = ["resolve_device"]


def resolve_device(choice: str | None, gpus: int) -> str:
    """``"cpu"``, ``"cuda"`` or ``"cuda:N"`` for ``choice`` (None/auto, cpu, cuda, cuda:N) with ``gpus`` visible.

    ``auto`` takes the GPU when there is one. Asking for a GPU that is not visible raises ``ValueError``.
    """
    try:
        value = parse_device(choice or "auto")
    except ValueError:
        raise ValueError(f"Unknown device {choice!r}: use 'auto', 'cpu', 'cuda' or 'cuda:N'.") from None
    if value == "auto":
        return "cuda" if gpus else "cpu"
    kind, _, index = value.partition(":")
    if kind == "cuda" and not gpus:
        raise ValueError(f"Device {value!r} was requested but no CUDA GPU is visible. Use 'cpu' or 'auto'.")
    if kind == "cuda" and index and int(index) >= gpus:
        raise ValueError(f"Device {value!r} was requested but only {gpus} CUDA GPU(s) are visible "
                         f"(cuda:0 to cuda:{gpus - 1}).")
    return value
