"""A kernel's view of the stack: settings pinned for the kernel, roles started and stopped here.

The folders (state, data, uploads, results) resolve under ECHONOTE_HOME,
never under the kernel's working directory. :func:`configure` pins them in
the kernel's environment, so every process it starts agrees, and refuses when
``echonote.celery_app`` was imported with other folders. Call it first.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from echonote import config
from echonote.lab.tables import Table
from echonote.ops.stack import Stack
from echonote.ops.waiting import wait_until

PATH_SETTINGS = ("state_dir", "data_dir", "upload_dir", "results_dir")
WORKSHOP_BEAT = "beat-workshop"
#: the workshop beat's lock expires this fast: a beat restarted after its kernel died sends again within seconds
WORKSHOP_LOCK_SECONDS = 6


def configure() -> config.Config:
    """Pin the folder settings in this kernel's environment; refuse if the app was configured with others."""
    cfg = config.load()
    if "echonote.celeryconfig" in sys.modules:
        loaded = sys.modules["echonote.celeryconfig"]._cfg
        if loaded.state_path != cfg.state_path:
            raise RuntimeError(
                "echonote.celery_app was imported before echonote.lab.session.configure(); "
                "restart the kernel and run the first cell first."
            )
    for key in PATH_SETTINGS:
        os.environ.setdefault(config.BY_KEY[key].env, str(cfg.path(key)))
    return config.load()


class LabStack(Stack):
    """A stack tied to this kernel that stops only the roles it started itself.

    ``make lab`` (or a test session) may already run Redis and a worker from the
    same state directory; ``up`` leaves those alone and ``down`` leaves them
    running, so a notebook never tears down a stack it did not start.
    """

    def __init__(self, cfg: config.Config | None = None):
        super().__init__(cfg or configure(), detach=False)
        self.started: list[str] = []

    def _spawn(self, role, argv, extra_env=None, node=""):
        proc = super()._spawn(role, argv, extra_env, node)
        if role not in self.started:
            self.started.append(role)
        return proc

    def start_workshop_beat(self, every_seconds: int, name: str = WORKSHOP_BEAT) -> None:
        """Run ``reset_daily_quotas`` every few seconds in a beat of its own, beside the stack's daily beat.

        It has its own schedule file and its own beat-lock key, so it neither
        stops the stack's beat nor waits behind it; it sends only the quota reset
        (the stack's beat keeps the janitor and cleanup), and it ends with this
        kernel, even one killed mid-cell.
        """
        if self.process(name):
            return
        env = {
            config.BY_KEY["workshop_schedule_seconds"].env: str(every_seconds),
            config.BY_KEY["beat_lock_key"].env: f"{config.load().beat_lock_key}:{name}",
            config.BY_KEY["beat_lock_seconds"].env: str(WORKSHOP_LOCK_SECONDS),
            # The stack's beat sends these; a second sender would only repeat them.
            config.BY_KEY["janitor_seconds"].env: str(365 * 86400),
            config.BY_KEY["cleanup_seconds"].env: str(365 * 86400),
        }
        self.spawn_beat(name, self.state / f"{name}-schedule", env)

    def end_workshop(self, name: str = WORKSHOP_BEAT) -> str:
        """Stop the workshop beat; the stack's beat was never touched. Say what happened."""
        stopped = self.stop(name)
        return f"workshop beat {'stopped' if stopped else 'was not running'}; the stack's beat was left as it was"

    def down(self) -> list[str]:
        """Stop the roles this kernel started, newest first; leave everyone else's running."""
        stopped = [role for role in reversed(self.started) if self.stop(role)]
        self.started = [role for role in self.started if role not in stopped]
        return stopped

    def processes(self) -> Table:
        """One row per role: pid, uptime, who started it, and its command line."""
        rows = [
            {"role": row.role, "pid": row.pid or "-", "alive": row.alive, "uptime (s)": round(row.uptime_s, 1),
             "started by": "this kernel" if row.role in self.started else "someone else",
             "command": _short_command(row.command)}
            for row in self.status()
        ]
        return Table(rows, title=f"processes of {self.state}")

    def wait_for_log(self, role: str, text: str, timeout: float = 30.0) -> str:
        """Block until ``text`` appears in the role's current log; return that log."""
        wait_until(lambda: text in self.log_since_start(role), timeout, interval=0.2,
                   what=lambda: f"{text!r} in the {role} log:\n{self.log_tail(role)}")
        return self.log_since_start(role)


@contextmanager
def workshop_beat(every_seconds: int = 5, name: str = WORKSHOP_BEAT,
                  stack: LabStack | None = None) -> Iterator[LabStack]:
    """``with workshop_beat(5) as stack:`` a fast quota-reset beat for the block, beside the stack's daily beat."""
    lab = stack or LabStack()
    lab.start_workshop_beat(every_seconds, name)
    try:
        yield lab
    finally:
        lab.end_workshop(name)


def _short_command(command: str) -> str:
    """The command line from ``-m celery`` on, without the interpreter's long path."""
    marker = " -m "
    return "python" + command[command.index(marker):] if marker in command else command
