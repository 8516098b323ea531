"""PROGRESS states for long tasks: ``(step, completed, total)`` → an overall percent, an ETA, and
throttled ``update_state`` and job-row updates."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from echonote.worker import jobs

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Estimate:
    step: str
    completed: int
    total: int
    percent: float
    eta_seconds: float | None

    def meta(self) -> dict:
        return {"step": self.step, "completed": self.completed, "total": self.total,
                "percent": round(self.percent, 1), "eta_seconds": self.eta_seconds}


class ProgressEstimate:
    """Map each step onto its span of an overall percentage that never goes backwards, and estimate
    the seconds left.

    ``spans`` maps a step name to its (start, end) percent, sized by each step's measured share of
    the time. The ETA extrapolates the pace since the first step after ``decode`` (decoding and a
    first job's model loading are not the pace of the work): elapsed × (100 − p) / (p − p₀).
    """

    #: steps that come before the steady work; the pace is measured from the first step after them
    SETUP_STEPS = ("decode",)

    def __init__(self, spans: dict[str, tuple[float, float]], clock=time.monotonic):
        self.spans, self.clock = spans, clock
        self.percent = 0.0
        self._origin: tuple[float, float] | None = None  # (time, percent) where the steady work began

    def __call__(self, step: str, completed: int, total: int) -> Estimate:
        start, end = self.spans.get(step, (self.percent, self.percent))
        fraction = min(1.0, completed / total) if total else 1.0
        self.percent = max(self.percent, start + (end - start) * fraction)
        now = self.clock()
        if self._origin is None and step not in self.SETUP_STEPS:
            self._origin = (now, self.percent)
        return Estimate(step, int(completed), int(total), self.percent, self.eta(now))

    def eta(self, now: float) -> float | None:
        if self.percent >= 100:
            return 0.0
        if self._origin is None:
            return None
        began, base = self._origin
        if self.percent - base < 1.0:  # too little done to know the pace
            return None
        return round((now - began) * (100 - self.percent) / (self.percent - base), 1)


class ProgressReporter:
    """Publish a task's :class:`ProgressEstimate` as PROGRESS states and on its job row.

    Updates are sent at most every ``min_interval`` seconds (and at the end of each step), so a
    fast loop does not flood the result backend. Publishing is best effort: a broker blip must not
    fail the job.
    """

    def __init__(self, task, job_id: str | None, spans: dict[str, tuple[float, float]], min_interval: float = 0.25):
        self.task, self.job_id, self.min_interval = task, job_id, min_interval
        self.estimate = ProgressEstimate(spans)
        self._sent_at, self._row_percent = 0.0, -100.0

    @property
    def percent(self) -> float:
        return self.estimate.percent

    def __call__(self, step: str, completed: int, total: int) -> None:
        seen = self.estimate(step, completed, total)
        now = time.monotonic()
        if now - self._sent_at < self.min_interval and completed < total and seen.percent < 100:
            return
        self._sent_at = now
        try:
            if self.task.request.id:
                self.task.update_state(state="PROGRESS", meta=seen.meta())
            if self.job_id and seen.percent - self._row_percent >= 10:
                self._row_percent = seen.percent
                jobs.update_job(self.job_id, progress=round(seen.percent, 1))
        except Exception as exc:
            logger.warning("could not publish progress (%s: %s); the job goes on", type(exc).__name__, exc)


def local_progress(label: str, spans: dict[str, tuple[float, float]], out=None):
    """A ``progress(step, completed, total)`` for a job run in this process (``--local``): the same
    percent and ETA a worker publishes, drawn by :class:`echonote.client.terminal.LocalBar`."""
    from echonote import client
    from echonote.client.terminal import LocalBar

    estimate, drawn = ProgressEstimate(spans), LocalBar(label, out)

    def report(step: str, completed: int, total: int) -> None:
        seen = estimate(step, completed, total)
        drawn.show(client.Progress("PROGRESS", seen.step, seen.completed, seen.total, seen.percent, seen.eta_seconds))

    return report
