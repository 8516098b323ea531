"""What the worker log says about routine tasks and about users' mistakes.

Celery logs "Task NAME[id] received" (logger ``celery.worker.strategy``) and "Task NAME[id]
succeeded in …" (``celery.app.trace``) at INFO for every task, and has no per-task setting for
either. For the housekeeping tasks beat sends every minute those lines would fill the log, so a
filter on those two loggers keeps them only when the worker logs at DEBUG. Celery passes the
task's name in the record's arguments (``record.args``), which is what the filter reads.

A :class:`~echonote.errors.BadInput` is declared in ``Task.throws`` (Celery's "expected errors":
logged at INFO as "raised expected", without a traceback); :class:`~echonote.worker.base_task.EchonoteTask`
logs it as one WARNING line with the job id, so the filter drops Celery's own line. Unexpected
errors keep Celery's ERROR line with its traceback.
"""
from __future__ import annotations

import logging

from celery.app import trace

from echonote import names

#: tasks beat sends on a timer: their receipt and success are DEBUG lines
QUIET_TASKS = frozenset({names.REQUEUE_STRANDED, names.CLEANUP_FILES, names.RESET_DAILY_QUOTAS})
ROUTINE_LINES = (trace.LOG_RECEIVED, trace.LOG_SUCCESS)
LOGGERS = ("celery.app.trace", "celery.worker.strategy")


class RoutineTaskFilter(logging.Filter):
    """Drop Celery's "raised expected" lines; demote receipt and success of :data:`QUIET_TASKS` to DEBUG."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = record.args if isinstance(record.args, dict) else {}
        if fields.get("description") == trace.log_policy_expected.description:
            return False  # EchonoteTask logged it already: one WARNING line with the job id
        if fields.get("name") in QUIET_TASKS and record.msg in ROUTINE_LINES:
            if not logging.getLogger().isEnabledFor(logging.DEBUG):
                return False
            record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
        return True


def install() -> None:
    """Add the filter to Celery's task loggers, once (the worker imports this with its tasks)."""
    for name in LOGGERS:
        target = logging.getLogger(name)
        if not any(isinstance(f, RoutineTaskFilter) for f in target.filters):
            target.addFilter(RoutineTaskFilter())
