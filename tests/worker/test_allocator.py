"""Worker memory hygiene, on the real C library and a real child process (no mocks)."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from echonote.worker import allocator

TRIM_PROBE = r"""
import numpy as np, psutil
from echonote.worker import allocator
proc = psutil.Process()
base = proc.memory_info().rss
blocks = [np.ones(64 * 1024 // 8) for _ in range(4000)]   # 250 MB of heap-sized buffers
keep = blocks[-1]
del blocks                                                  # all freed but the newest: the heap cannot shrink
held = proc.memory_info().rss - base
allocator.release()
print(round(held / 2**20), round((proc.memory_info().rss - base) / 2**20))
"""


@pytest.mark.skipif(allocator._glibc() is None, reason="not glibc: release() is a no-op here")
def test_release_gives_freed_heap_memory_back():
    done = subprocess.run([sys.executable, "-c", TRIM_PROBE], capture_output=True, text=True, check=True)
    held, after = (int(x) for x in done.stdout.split())
    assert held >= 200, done.stdout   # glibc keeps the freed 250 MB
    assert after <= 20, done.stdout   # until release() trims it


@pytest.mark.parametrize("preset, expected", [(None, str(allocator.ONEDNN_CACHE_CAPACITY)), ("16", "16")])
def test_importing_the_backends_bounds_onednn_cache_unless_the_user_chose(preset, expected):
    env = {k: v for k, v in os.environ.items() if k != "ONEDNN_PRIMITIVE_CACHE_CAPACITY"}
    if preset:
        env["ONEDNN_PRIMITIVE_CACHE_CAPACITY"] = preset
    code = "import os, echonote.worker.backends; print(os.environ['ONEDNN_PRIMITIVE_CACHE_CAPACITY'])"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert done.stdout.strip() == expected
