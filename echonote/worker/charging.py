"""Settle a job's quota charge with the audio the worker actually decoded.

The client charges what it measured before sending (:mod:`echonote.client.audio_info`); the worker
decodes the file and knows for sure. Right after decoding, :func:`settle_charge` refunds what
was charged too much or bills the rest (:func:`echonote.db.reconcile_charge`), and refuses
the job when the rest would overspend the user's quota. Runs outside a task (``--local``,
benchmarks) change nothing.
"""
from __future__ import annotations

import logging

from celery import current_task
from sqlalchemy import select

from echonote import db
from echonote.errors import BadInput
from echonote.names import CHARGE_HEADER, JOB_HEADER

logger = logging.getLogger(__name__)


def _message_header(task, name: str):
    request = getattr(task, "request", None)
    headers = getattr(request, "headers", None)
    return getattr(request, name, None) or (headers.get(name) if isinstance(headers, dict) else None)


def settle_charge(decoded_seconds: float) -> db.Reconciliation | None:
    """Make the current task's job charge ``decoded_seconds``; raise :class:`BadInput` if the quota cannot cover it."""
    task = current_task._get_current_object() if current_task else None  # a proxy: None outside a task
    if task is None or not getattr(task.request, "id", None):
        return None
    job_id = _message_header(task, JOB_HEADER) or _message_header(task, CHARGE_HEADER)
    if not job_id:
        return None
    with db.session() as s:
        settled = db.reconcile_charge(s, str(job_id), decoded_seconds)
        user = s.scalar(select(db.User.name).join(db.Job, db.Job.user_id == db.User.id)
                        .where(db.Job.id == str(job_id)))
    if settled is None:
        return None
    if abs(settled.difference) >= 0.5:
        logger.info("job %s: charged %.1f s at submission, decoded %.1f s: %s", job_id, settled.charged,
                    settled.decoded, "settled" if settled.accepted else "refused")
    if not settled.accepted:
        raise BadInput(
            f"the audio lasts {settled.decoded:.0f} s, but only {settled.charged:.0f} s were charged when it was "
            f"submitted (its header understates the length) and the other {settled.difference:.0f} s do not fit in "
            f"user {user!r}'s daily quota: the job is refused and its charge refunded ({settled.remaining:.0f} s "
            f"left now). Submit a shorter file, wait for the reset at 00:00 UTC, or raise the quota: "
            f"`echonote quota set {user} SECONDS`."
        )
    return settled
