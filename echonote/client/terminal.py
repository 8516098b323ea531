"""Terminal progress bars for several running tasks, fed by their PROGRESS states."""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

from echonote import client

BAR_WIDTH = 30


@dataclass
class Tracked:
    label: str
    task_id: str
    progress: client.Progress = field(default_factory=lambda: client.Progress("PENDING"))
    value: Any = None
    error: BaseException | None = None
    done: bool = False
    history: list[str] = field(default_factory=list)  # states seen, in order


def clock(seconds: float) -> str:
    """``1:23`` (or ``1:02:03`` past an hour) for a number of seconds."""
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def bar(label: str, p: client.Progress, width: int = BAR_WIDTH) -> str:
    filled = int(round(width * p.percent / 100))
    step = f"{p.step} {p.completed}/{p.total}" if p.total else p.step
    eta = f"  eta {clock(p.eta_seconds)}" if p.eta_seconds is not None and p.state == "PROGRESS" else ""
    return f"{label[:28]:<28} [{'#' * filled}{'.' * (width - filled)}] {p.percent:5.1f}% {p.state:<8} {step}{eta}"


class LocalBar:
    """One bar for a job run in this process (``--local``), fed the same observations as :func:`follow`:
    redrawn in place on a terminal, else a line each time the step or the tens of percent change."""

    def __init__(self, label: str, out: TextIO | None = None):
        self.label, self.out, self._key = label, out or sys.stderr, None

    def show(self, p: client.Progress) -> None:
        line = bar(self.label, p)
        if self.out.isatty():
            self.out.write(f"\r{line}\x1b[K" + ("\n" if p.percent >= 100 else ""))
        elif (key := (p.step, int(p.percent // 10))) != self._key:
            self._key = key
            self.out.write(line + "\n")
        self.out.flush()


def follow(items: list[Tracked], timeout: float = 3600.0, out: TextIO | None = None,
           poll: float = 0.25) -> list[Tracked]:
    """Poll every task until all are done (or ``timeout``), drawing one bar each."""
    app = client.celery_app()
    out = out or sys.stdout
    live = out.isatty()
    deadline = time.monotonic() + timeout
    drawn = 0
    last_line: dict[str, str] = {}
    while True:
        for item in items:
            if item.done:
                continue
            result = app.AsyncResult(item.task_id)
            item.progress = client.progress_of(result)
            if not item.history or item.history[-1] != item.progress.state:
                item.history.append(item.progress.state)
            if result.ready():
                item.done = True
                try:
                    item.value = client.finished_value(result)
                except Exception as exc:  # the task's own error, rebuilt by Celery
                    # drop the traceback: its frames would keep AsyncResults alive until interpreter exit
                    item.error = exc.with_traceback(None)
                    item.error.__context__ = None
        lines = [bar(i.label, i.progress) + (f"  error: {i.error}" if i.error else "") for i in items]
        if live:
            out.write(("\x1b[F" * drawn) + "\n".join(f"{line}\x1b[K" for line in lines) + "\n")
            drawn = len(lines)
        else:
            for item, line in zip(items, lines, strict=True):
                key = f"{item.progress.state}{int(item.progress.percent // 10)}{item.progress.step}"
                if last_line.get(item.task_id) != key:
                    out.write(line + "\n")
                    last_line[item.task_id] = key
        out.flush()
        if all(i.done for i in items):
            return items
        if time.monotonic() > deadline:
            raise TimeoutError(f"{sum(not i.done for i in items)} task(s) still running after {timeout:.0f} s")
        time.sleep(poll)


class TransferBar:
    """``progress(done, total)`` for bytes sent or fetched (an upload to the object store): a bar redrawn in
    place on a terminal, else a line per tenth; nothing for a transfer that never starts (already stored)."""

    def __init__(self, label: str, out: TextIO | None = None, width: int = BAR_WIDTH):
        self.label, self.out, self.width = label, out or sys.stderr, width
        self._started = time.monotonic()
        self._tenth = -1

    def __call__(self, done: int, total: int) -> None:
        fraction = done / total if total else 1.0
        rate = done / max(time.monotonic() - self._started, 1e-6) / 1e6
        filled = int(round(self.width * fraction))
        line = (f"{self.label[:28]:<28} [{'#' * filled}{'.' * (self.width - filled)}] {100 * fraction:5.1f}% "
                f"{done / 1e6:,.1f}/{total / 1e6:,.1f} MB  {rate:,.1f} MB/s")
        if self.out.isatty():
            self.out.write(f"\r{line}\x1b[K" + ("\n" if done >= total else ""))
        elif int(10 * fraction) != self._tenth:
            self._tenth = int(10 * fraction)
            self.out.write(line + "\n")
        self.out.flush()
