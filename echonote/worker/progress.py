"""PROGRESS states for long tasks: ``(step, completed, total)`` → throttled ``update_state`` and job-row updates."""
from __future__ import annotations

import logging
import time

from echonote.worker import job_tracking

logger = logging.getLogger(__name__)


class ProgressReporter:
    """Map each step onto its span of an overall percentage that never goes backwards.

    ``spans`` maps a step name to its (start, end) percent. Updates are sent at
    most every ``min_interval`` seconds (and at the end of each step), so a
    fast loop does not flood the result backend. Publishing is best effort: a
    broker blip must not fail the job.
    """

    def __init__(self, task, job_id: str | None, spans: dict[str, tuple[float, float]], min_interval: float = 0.25):
        self.task, self.job_id, self.spans, self.min_interval = task, job_id, spans, min_interval
        self.percent, self._sent_at, self._row_percent = 0.0, 0.0, -100.0

    def __call__(self, step: str, completed: int, total: int) -> None:
        start, end = self.spans.get(step, (self.percent, self.percent))
        fraction = completed / total if total else 1.0
        percent = max(self.percent, start + (end - start) * fraction)
        now = time.monotonic()
        if now - self._sent_at < self.min_interval and completed < total and percent < 100:
            return
        self.percent, self._sent_at = percent, now
        meta = {"step": step, "completed": int(completed), "total": int(total), "percent": round(percent, 1)}
        try:
            if self.task.request.id:
                self.task.update_state(state="PROGRESS", meta=meta)
            if self.job_id and percent - self._row_percent >= 10:
                self._row_percent = percent
                job_tracking.update_job(self.job_id, progress=round(percent, 1))
        except Exception as exc:
            logger.warning("could not publish progress (%s: %s); the job goes on", type(exc).__name__, exc)
