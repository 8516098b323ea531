"""A kernel's view of the stack: settings anchored at the project, roles started and stopped here.

A notebook runs with its own folder as the working directory, so the default
relative settings (``.state``, ``data``) would point inside ``notebooks/``.
:func:`configure` pins every path setting that the environment leaves unset
to the project root, before ``echonote.celery_app`` reads them. Call it first.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from echonote import config
from echonote.lab.tables import Table
from echonote.stack import Stack

PATH_SETTINGS = ("state_dir", "data_dir", "upload_dir", "results_dir")


def project_root(start: Path | None = None) -> Path:
    """The nearest folder at or above ``start`` (default: cwd) holding echonote's pyproject.toml."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file() and 'name = "echonote"' in pyproject.read_text(errors="replace"):
            return folder
    return here


def configure() -> config.Config:
    """Anchor unset path settings at the project root; refuse if the app was configured before."""
    if "echonote.celeryconfig" in sys.modules:
        loaded = sys.modules["echonote.celeryconfig"]._cfg
        if loaded.state_path != _anchored("state_dir"):
            raise RuntimeError(
                "echonote.celery_app was imported before echonote.lab.session.configure(); "
                "restart the kernel and run the first cell first."
            )
    for key in PATH_SETTINGS:
        os.environ.setdefault(config.BY_KEY[key].env, str(_anchored(key)))
    return config.load()


def _anchored(key: str) -> Path:
    setting = config.BY_KEY[key]
    raw = Path(os.environ.get(setting.env, setting.default)).expanduser()
    return raw if raw.is_absolute() else project_root() / raw


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

    def start_workshop_beat(self, every_seconds: int, name: str = "beat-workshop") -> None:
        """Swap the daily beat for one that runs ``reset_daily_quotas`` every few seconds.

        Only one beat may send at a time (it holds a lock in Redis), so the daily
        beat is stopped first; :meth:`end_workshop` puts it back.
        """
        if self.process(name):
            return
        self._daily_beat = None
        if self.process("beat"):
            self._daily_beat = "ours" if "beat" in self.started else "someone else's"
            self.stop("beat")
        self.spawn_beat(name, self.state / f"{name}-schedule",
                        {config.BY_KEY["workshop_schedule_seconds"].env: str(every_seconds)})

    def end_workshop(self, name: str = "beat-workshop") -> str:
        """Stop the workshop beat and restart the daily beat if one ran before; say what happened."""
        self.stop(name)
        previous = getattr(self, "_daily_beat", None)
        if previous == "ours":
            self.start_beat()
        elif previous:
            Stack(self.cfg, detach=True).start_beat()  # it was not this kernel's: it outlives the kernel again
        return f"workshop beat stopped; daily beat {'restarted' if previous else 'was not running, left off'}"

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
        deadline = time.monotonic() + timeout
        while text not in (log := self.log_since_start(role)):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{text!r} not in the {role} log after {timeout:.0f} s:\n{self.log_tail(role)}")
            time.sleep(0.2)
        return log


def _short_command(command: str) -> str:
    """The command line from ``-m celery`` on, without the interpreter's long path."""
    marker = " -m "
    return "python" + command[command.index(marker):] if marker in command else command
