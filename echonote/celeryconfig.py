"""Celery configuration, loaded by module path: ``app.config_from_object("echonote.celeryconfig")``.

Every key is a new-style Celery setting (a test checks them against Celery's
own list). Values that users may change come from :mod:`echonote.config`
(env var, default, doc there); the rest are fixed on purpose and explained
here. There is no ``include``/``imports``: beat and Flower run
``app.loader.import_default_modules()``, so listing task modules here would
drag the worker's heavy code into them. Workers add it with ``--include``.
"""
from __future__ import annotations

from celery.schedules import crontab

from echonote import config, names

_cfg = config.load()


def _schedule() -> dict:
    """reset_daily_quotas at 00:00 UTC (every N seconds in workshop mode), the stranded-job janitor and the
    cleanup of old uploads and results."""
    every = _cfg.workshop_schedule_seconds
    when = float(every) if every > 0 else crontab(minute=0, hour=0)
    return {
        "reset-daily-quotas": {
            "task": names.RESET_DAILY_QUOTAS,  # by name: beat never imports the task
            "schedule": when,
            "options": {"queue": names.ROUTES[names.RESET_DAILY_QUOTAS], "expires": 3600},
        },
        "requeue-stranded-jobs": {
            "task": names.REQUEUE_STRANDED,
            "schedule": float(_cfg.janitor_seconds),
            "options": {"queue": names.ROUTES[names.REQUEUE_STRANDED], "expires": _cfg.janitor_seconds},
        },
        "cleanup-files": {
            "task": names.CLEANUP_FILES,  # uploads and result folders past their retention
            "schedule": float(_cfg.cleanup_seconds),
            "options": {"queue": names.ROUTES[names.CLEANUP_FILES], "expires": _cfg.cleanup_seconds},
        },
    }


CELERY_SETTINGS: dict = {
    # https://docs.celeryq.dev/en/stable/userguide/configuration.html#broker-url
    "broker_url": _cfg.effective_broker_url,
    # https://docs.celeryq.dev/en/stable/userguide/configuration.html#result-backend
    "result_backend": _cfg.effective_result_backend,
    # Clients give up on an unreachable broker/result store after this many seconds.
    "broker_connection_timeout": _cfg.send_timeout,
    "redis_socket_connect_timeout": _cfg.send_timeout,
    # Keep retrying the broker at worker start instead of exiting (5.x default changes).
    "broker_connection_retry_on_startup": True,
    # Redis redelivers unacked messages after this; it must exceed the hard time limit
    # (config.load refuses otherwise) or acks_late tasks run twice.
    "broker_transport_options": {"visibility_timeout": _cfg.visibility_timeout},
    "result_backend_transport_options": {"visibility_timeout": _cfg.visibility_timeout},
    # JSON only: a pickled message is refused, never executed.
    "task_serializer": "json",
    "result_serializer": "json",
    "accept_content": ["json"],
    "result_accept_content": ["json"],
    "timezone": "UTC",
    "enable_utc": True,
    # Events for Flower and `echonote status`.
    "worker_send_task_events": True,
    "task_send_sent_event": True,
    "task_track_started": True,
    # Results carry name, args, worker: Flower and the notebooks read them.
    "result_extended": True,
    "result_expires": _cfg.result_expires,
    # Keep trying to store a finished task's result through a broker restart instead of
    # failing a job whose work is done (exponential backoff, about two minutes in all).
    "result_backend_always_retry": True,
    "result_backend_max_retries": 20,
    # A task is acknowledged when done, and re-queued if its worker dies mid-task.
    "task_acks_late": True,
    "task_reject_on_worker_lost": True,
    # One message at a time per process: long jobs do not hide behind each other.
    "worker_prefetch_multiplier": 1,
    "task_soft_time_limit": _cfg.soft_time_limit,
    "task_time_limit": _cfg.hard_time_limit,
    # Routing by name; anything unlisted goes to the default queue.
    "task_default_queue": names.DEFAULT_QUEUE,
    "task_routes": {name: {"queue": queue} for name, queue in names.ROUTES.items()},
    "beat_schedule": _schedule(),
    # Only the beat holding a Redis lock sends (echonote/beat_lock.py): two beats never double-fire.
    "beat_scheduler": "echonote.beat_lock:LockedScheduler",
    "beat_schedule_filename": str(_cfg.state_path / "celerybeat-schedule"),
}

globals().update(CELERY_SETTINGS)
