"""Who pays for a failed job, through a real worker: a failure the system caused is refunded, one the
user's input caused keeps its charge, and a job is refunded at most once whoever closes it."""
from __future__ import annotations

import pytest
from support.job_rows import final_row, run_by_name, usage

from echonote import client, db, names

pytest.importorskip("numpy", reason="the worker extra is not installed")


def _charged_ping(user: str, seconds: float, options: dict | None = None, **kwargs) -> db.Job:
    return client.submit(names.PING, kwargs, kind="ping", user=user, audio_seconds=seconds, **(options or {}))


def failure_of(job: db.Job) -> Exception:
    """The error the client gets for ``job``, which must fail."""
    try:
        client.wait(job.task_id, timeout=30)
    except Exception as exc:  # the expected outcome
        return exc
    raise AssertionError(f"job {job.id} succeeded")


def _close_again(job: db.Job) -> None:
    """Everything else that may close a failed job: the janitor and a canvas's error callback, by name."""
    run_by_name(names.REQUEUE_STRANDED, orphan_after=0)
    client.wait(client.send_by_name(names.CANVAS_FAILED, args=[job.task_id]).id, timeout=30)


@pytest.mark.parametrize("case, kwargs, options, error", [
    ("bug", {"drill": "error"}, {}, "DrillError"),
    ("memory", {"drill": "memory"}, {}, "OutOfMemory"),
    ("soft-limit", {"sleep": 5}, {"soft_time_limit": 1, "time_limit": 4}, "TimeLimitReached"),
    ("hard-limit", {"sleep": 8, "stubborn": True}, {"soft_time_limit": 1, "time_limit": 2}, "TimeLimitExceeded"),
])
def test_a_system_failure_is_refunded_once(stack, case, kwargs, options, error):
    """A job that failed through no fault of the user (a bug, out of memory, a time limit) kept its charge."""
    user = f"refund-{case}"
    db.set_quota(user, 1000)
    kept = _charged_ping(user, 50)  # a job that succeeds keeps its charge: a second refund would eat into it
    client.wait(kept.task_id, timeout=30)
    failed = _charged_ping(user, 30, options, **kwargs)
    assert usage(user) == 80
    assert type(failure_of(failed)).__name__ == error
    row = final_row(failed.id)
    assert row.status == db.FAILED and row.error.startswith(error), row.as_dict()
    assert usage(user) == 50 and row.audio_seconds == 0, "the failed job's 30 s were given back"
    _close_again(failed)
    assert usage(user) == 50, "refunded once, whoever else closes the job"
    assert db.get_job(failed.id).error == row.error


def test_a_bad_input_failure_keeps_its_charge(stack):
    """The user's own mistake (here an impossible option) is charged, and nothing refunds it later."""
    user = "refund-badinput"
    db.set_quota(user, 1000)
    job = _charged_ping(user, 20, sleep=-1)
    with pytest.raises(Exception, match="sleep must be"):
        client.wait(job.task_id, timeout=30)
    row = final_row(job.id)
    assert row.status == db.FAILED and row.error.startswith("BadInput"), row.as_dict()
    _close_again(job)
    assert usage(user) == 20 and db.get_job(job.id).audio_seconds == 20


@pytest.mark.parametrize("part_error, refunded", [
    ("DrillError('the error drill failed this run on purpose')", True),
    ("TimeLimitReached('echonote.transcribe stopped after its soft time limit of 3000 s')", True),
    ("BadInput('notes.wav is not a recognised audio file')", False),
])
def test_a_canvas_part_failing_for_the_systems_reason_is_refunded(stack, part_error, refunded):
    """The canvas's error callback, run by name on the worker as Celery runs it when a part fails: a part
    that failed for the system's reason refunds the canvas's job, the user's bad input does not."""
    user = f"refund-canvas-{refunded}"
    db.set_quota(user, 1000)
    db.reset_daily_quotas()
    client.wait(_charged_ping(user, 25).task_id, timeout=30)  # a kept charge: a second refund would show
    job = client.submit(names.ATTRIBUTE, kind="transcript", user=user, audio_seconds=40,
                        sender=lambda *args, **kwargs: None)
    sent = client.send_by_name(names.CANVAS_FAILED, args=[job.task_id],
                               kwargs={"exc": f"Dependency 0a1b raised {part_error}"})
    client.wait(sent.id, timeout=30)
    row = db.get_job(job.id)
    assert row.status == db.FAILED and part_error in row.error, row.as_dict()
    assert usage(user) == (25 if refunded else 65)
    _close_again(job)
    assert usage(user) == (25 if refunded else 65)
