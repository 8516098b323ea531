"""The worker's glibc setting gives freed model-sized buffers back to the system (real allocator, no mocks)."""
from __future__ import annotations

import subprocess
import sys

import pytest

from echonote.worker import allocator

PROBE = r"""
import sys, numpy as np, psutil
from echonote.worker import allocator
if sys.argv[1] == "on":
    assert allocator.configure() == 128 * 1024
proc = psutil.Process()
big = np.ones(10 * 2**20 // 8); del big           # freeing a 10 MB mmap raises glibc's dynamic threshold
base = proc.memory_info().rss
blocks = [np.ones(5 * 2**20 // 8) for _ in range(60)]   # 300 MB in 5 MB buffers, like a batch of activations
keep = blocks[-1]
del blocks                                          # every one freed except the newest
print(round((proc.memory_info().rss - base) / 2**20))
"""

needs_glibc = pytest.mark.skipif(allocator._glibc() is None, reason="not glibc: the setting is a no-op here")


def held_after_free(mode: str) -> int:
    done = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True)
    return int(done.stdout.strip())


@needs_glibc
def test_freed_buffers_go_back_to_the_system_only_with_the_setting():
    assert held_after_free("off") >= 250  # glibc's default keeps the freed 295 MB in the heap
    assert held_after_free("on") <= 20   # with the threshold fixed, only the live 5 MB buffer remains


@needs_glibc
def test_configure_is_idempotent_and_zero_leaves_glibc_alone(monkeypatch):
    assert allocator.configure(0) == 0
    monkeypatch.setenv("ECHONOTE_MMAP_THRESHOLD_KB", "256")
    assert allocator.configure() == allocator.configure() == 256 * 1024
    assert isinstance(allocator.release(), bool)
