"""Keep a model-serving process from hoarding memory it no longer uses (glibc malloc settings).

PyTorch on CPU allocates and frees many large buffers of changing sizes. glibc
serves big requests with mmap, but each time such a buffer is freed it raises
its mmap threshold (up to 32 MB), so later buffers come from the heap, whose
free space fragments and is rarely given back. On a 10-minute file that turns
a worker needing 1.4 GB into one holding 2.2 GB. Setting the threshold
explicitly (which also switches glibc's adjustment off) keeps big buffers in
mmap, returned to the system when freed; :func:`release` hands back what the
heap holds free after a job. Both are no-ops where the C library is not glibc.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
DEFAULT_MMAP_THRESHOLD_KB = 128

_configured: int | None = None


def _glibc():
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        libc = ctypes.CDLL(name)
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


def configure(threshold_kb: int | None = None) -> int:
    """Fix glibc's mmap and trim thresholds (``ECHONOTE_MMAP_THRESHOLD_KB``; 0 = leave glibc's defaults).

    Returns the threshold in bytes now in force, or 0 when nothing was changed. Idempotent.
    """
    global _configured
    if threshold_kb is None:
        threshold_kb = int(os.environ.get("ECHONOTE_MMAP_THRESHOLD_KB") or DEFAULT_MMAP_THRESHOLD_KB)
    if threshold_kb <= 0:
        return 0
    size = threshold_kb * 1024
    if _configured == size:
        return size
    libc = _glibc()
    if libc is None or not (libc.mallopt(M_MMAP_THRESHOLD, size) and libc.mallopt(M_TRIM_THRESHOLD, size)):
        return 0
    _configured = size
    return size


def release() -> bool:
    """Give free heap memory back to the system (``malloc_trim``); call between jobs."""
    libc = _glibc()
    return bool(libc and libc.malloc_trim(0))
