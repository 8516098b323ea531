"""Keep a model-serving process from hoarding memory it no longer needs.

Two sources of growth in a long-lived PyTorch CPU process, measured on a
10-minute file (``bench/diarization.py``, memory table):

* oneDNN caches a compiled primitive, with its own copy of reordered weights,
  for every input shape a convolution meets; CAM++ sees a new shape in almost
  every batch, so its default cache of 1,024 primitives holds hundreds of MB for
  no speed gain. :data:`ONEDNN_CACHE_CAPACITY` bounds it (set before the first
  convolution; ``ONEDNN_PRIMITIVE_CACHE_CAPACITY`` in the environment wins).
* glibc keeps freed heap memory for reuse; :func:`release` hands the free pages
  back after each job, so an idle worker does not sit on its last job's peak.
"""
from __future__ import annotations

import ctypes
import functools
import os

#: one forward pass of each model fits; more only hoards memory (see the module docstring)
ONEDNN_CACHE_CAPACITY = 64


def bound_onednn_cache() -> None:
    """Bound oneDNN's primitive cache unless the user chose a size; call before models run."""
    # oneDNN's own documented variable, not an echonote setting: a value the user exported wins
    os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", str(ONEDNN_CACHE_CAPACITY))


@functools.cache
def _glibc():
    """The C library this process runs on, if it is glibc (looked up once: release() runs after every job)."""
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return None
    return libc if hasattr(libc, "malloc_trim") else None


def release() -> bool:
    """Give free heap pages back to the system (glibc's ``malloc_trim``); a no-op elsewhere."""
    libc = _glibc()
    return bool(libc and libc.malloc_trim(0))
