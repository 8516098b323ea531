"""The notebooks' workshop beat runs beside the stack's daily beat, never instead of it, and dies with its kernel.

Notebook 02 used to stop the stack's beat to run a fast quota reset; a kernel
killed mid-cell left no beat at all while `echonote status` still looked fine.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import psutil
from support.cli_runs import run_cli
from support.environments import ROOT

from echonote.lab.session import WORKSHOP_BEAT, LabStack, workshop_beat
from echonote.ops import monitor

KERNEL = """
import time
from echonote.lab.session import LabStack
stack = LabStack()
stack.start_workshop_beat(every_seconds=1)
print(stack.process("beat-workshop").pid, flush=True)
time.sleep(600)
"""


def _gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.2)
    return False


def _sends(stack, role: str) -> int:
    return stack.log_since_start(role).count("Sending due task reset-daily-quotas")


def _status() -> tuple[int, dict]:
    done = run_cli("status", "--json", "--timeout", "2")
    return done.returncode, json.loads(done.stdout)


def test_a_killed_kernel_takes_its_workshop_beat_along_and_leaves_the_stacks_beat_sending(stack):
    stack.start_beat()
    daily = stack.process("beat").pid
    kernel = subprocess.Popen([sys.executable, "-c", KERNEL], cwd=ROOT, env=dict(os.environ),
                              stdout=subprocess.PIPE, text=True)
    try:
        workshop = int(kernel.stdout.readline())
        deadline = time.monotonic() + 30
        while _sends(stack, WORKSHOP_BEAT) < 2:  # it holds a lock of its own: it sends while the daily beat does
            assert time.monotonic() < deadline, stack.log_tail(WORKSHOP_BEAT)
            time.sleep(0.5)
        assert stack.process("beat").pid == daily
        assert monitor.beat_lock_holder().split(":")[1] == str(daily)  # the stack's lock is still the daily beat's

        kernel.send_signal(signal.SIGKILL)  # the kernel dies mid-cell, nothing runs its clean-up
        kernel.wait(timeout=10)
        assert _gone(workshop, timeout=15), "the workshop beat outlived its kernel"
        assert stack.process("beat") is not None and stack.process("beat").pid == daily
        code, report = _status()
        assert report["beat"]["holder"].split(":")[1] == str(daily)
        assert not [p for p in report["problems"] if "beat" in p], report["problems"]
        assert code == (3 if report["problems"] else 0), report
    finally:
        kernel.kill()
        stack.stop("beat")


def test_the_workshop_block_leaves_the_stacks_beat_as_it_was_and_status_still_misses_a_stopped_one(stack):
    lab = LabStack(stack.cfg)
    stack.start_beat()
    daily = stack.process("beat").pid
    try:
        with workshop_beat(every_seconds=1, stack=lab):
            assert lab.process(WORKSHOP_BEAT) is not None
            assert stack.process("beat").pid == daily
            stack.stop("beat")  # the room's beat goes away while the workshop beat runs
            done = run_cli("status", "--timeout", "2")
            assert done.returncode == 3, done.stdout  # the workshop beat does not count as the stack's beat
            assert "problem: no beat running" in done.stdout and "echonote up --role beat" in done.stdout
        assert lab.process(WORKSHOP_BEAT) is None
        stack.start_beat()
        daily = stack.process("beat").pid
        with workshop_beat(every_seconds=1, stack=lab):
            pass
        assert stack.process("beat").pid == daily
    finally:
        stack.stop("beat")
