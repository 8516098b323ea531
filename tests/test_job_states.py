"""A job's state changes only through ``db``'s named transitions, each refused from a state it does not allow.

Real databases, no worker: SQLite always, PostgreSQL as well when ``ECHONOTE_TEST_POSTGRES_URL`` names one
(see tests/support/databases.py). The worker's use of them (a redelivered message, a hard time limit, a
revoke) is in tests/test_job_runs.py; through a real worker in test_final_rows.py and test_refunds.py.
"""
from __future__ import annotations

import threading
import uuid

import pytest
from support.databases import database_params, database_url

from echonote import db

STATES = (db.QUEUED, db.STARTED, db.SUCCEEDED, db.FAILED, db.REVOKED)
CHARGE = 30.0

#: each transition called as its writer calls it
CALLS = {
    "mark_started": lambda job_id, url: db.mark_started(job_id, "worker@test:10:11", url=url),
    "mark_succeeded": lambda job_id, url: db.mark_succeeded(job_id, "/results/one", url=url),
    "mark_failed": lambda job_id, url: db.mark_failed(job_id, "RuntimeError: a bug", url=url),
    "mark_revoked": lambda job_id, url: db.mark_revoked(job_id, url=url),
    "requeue": lambda job_id, url: db.requeue(job_id, "requeued: worker gone", url=url),
}

#: how a test brings a new row to each state (through the transitions themselves)
PATHS = {
    db.QUEUED: (),
    db.STARTED: ("mark_started",),
    db.SUCCEEDED: ("mark_started", "mark_succeeded"),
    db.FAILED: ("mark_started", "mark_failed"),
    db.REVOKED: ("mark_revoked",),
}


@pytest.fixture(scope="module", params=database_params())
def url(request, tmp_path_factory):
    return database_url(request.param, tmp_path_factory.mktemp("job-states") / "jobs.db")


def new_user(url: str, kept: float = 0.0) -> str:
    """A user of its own, with ``kept`` seconds already used by a job that stays charged."""
    user = f"states-{uuid.uuid4().hex[:8]}"
    db.set_quota(user, 1000, url=url)
    if kept:
        new_job(url, user=user, seconds=kept)
    return user


def new_job(url: str, state: str = db.QUEUED, *, user: str | None = None, seconds: float = CHARGE) -> str:
    """A job charged ``seconds``, as submit creates it, then brought to ``state``; returns its id."""
    user = user or new_user(url)
    with db.session(url) as s:
        owner = db.charge(s, user, seconds)
        job_id = str(uuid.uuid4())
        s.add(db.Job(id=job_id, task_id=job_id, user_id=owner.id, kind="test", audio_seconds=seconds))
    for name in PATHS[state]:
        assert CALLS[name](job_id, url), f"{name} on the way to {state}"
    assert db.get_job(job_id, url).status == state
    return job_id


def usage(url: str, user: str) -> float:
    return next(u.used_seconds_today for u in db.list_users(url) if u.name == user)


def user_of(url: str, job_id: str) -> str:
    return next(name for job, name in db.find_jobs(limit=10_000, url=url) if job.id == job_id)


def test_the_table_keeps_final_rows_final():
    """Only queued and started rows move; requeue only takes a started job back to queued."""
    assert set(db.TRANSITIONS) == set(CALLS)
    for name, (allowed, to) in db.TRANSITIONS.items():
        assert callable(getattr(db, name)) and to in STATES
        assert not set(allowed) & set(db.FINISHED_STATES), f"{name} would reopen or rewrite a final row"
    assert db.TRANSITIONS["requeue"] == ((db.STARTED,), db.QUEUED)


@pytest.mark.parametrize("name", list(CALLS))
@pytest.mark.parametrize("state", STATES)
def test_a_transition_happens_from_its_allowed_states_and_is_refused_from_the_others(url, name, state):
    """Allowed: the row moves and the call says so. Refused: the call says so and nothing in the row changes
    (a succeeded job's redelivery cannot start it again, a failed job cannot succeed, a revoked one stays so)."""
    allowed, to = db.TRANSITIONS[name]
    job_id = new_job(url, state)
    before = db.get_job(job_id, url).as_dict()
    happened = CALLS[name](job_id, url)
    after = db.get_job(job_id, url).as_dict()
    if state in allowed:
        assert happened is True and after["status"] == to, after
    else:
        assert happened is False and after == before, f"{name} changed a {state} row"


@pytest.mark.parametrize("name", list(CALLS))
def test_a_missing_row_is_no_transition(url, name):
    assert CALLS[name](str(uuid.uuid4()), url) is False


def test_started_counts_attempts_records_the_worker_and_clears_a_requeue_note(url):
    job_id = new_job(url, db.STARTED)
    assert db.requeue(job_id, "requeued: worker w1 stopped answering", url=url)
    row = db.get_job(job_id, url)
    assert (row.status, row.error, row.attempts) == (db.QUEUED, "requeued: worker w1 stopped answering", 1)
    assert db.mark_started(job_id, "w2@host:20:21", url=url)
    row = db.get_job(job_id, url)
    assert (row.status, row.error, row.attempts, row.worker) == (db.STARTED, None, 2, "w2@host:20:21")
    assert row.started_at is not None and row.finished_at is None


def test_success_records_where_the_results_are_and_keeps_the_charge(url):
    user = new_user(url)
    job_id = new_job(url, db.STARTED, user=user)
    assert db.mark_succeeded(job_id, "/results/abc", url=url)
    row = db.get_job(job_id, url)
    assert (row.status, row.progress, row.result_path, row.error) == (db.SUCCEEDED, 100.0, "/results/abc", None)
    assert row.finished_at is not None and row.audio_seconds == CHARGE and usage(url, user) == CHARGE


def test_a_hard_limits_failure_is_never_overwritten(url):
    """The worker's main process records the hard time limit; what the dying process (or anyone) writes
    later — a success, its own error, a revoke, a requeue, a new start — is refused."""
    job_id = new_job(url, db.STARTED)
    verdict = "TimeLimitExceeded: hard time limit of 2 s reached; the pool process was replaced."
    assert db.mark_failed(job_id, verdict, url=url)
    final = db.get_job(job_id, url).as_dict()
    assert not db.mark_succeeded(job_id, "/results/late", url=url)
    assert not db.mark_failed(job_id, "WorkerLostError: Worker exited prematurely: signal 9", url=url)
    assert not db.mark_revoked(job_id, url=url)
    assert not db.requeue(job_id, "requeued: worker gone", url=url)
    assert not db.mark_started(job_id, "w@host:1:2", url=url)
    assert db.get_job(job_id, url).as_dict() == final and final["error"] == verdict


def test_a_failed_job_is_refunded_once_whoever_closes_it(url):
    """Another job's 50 s stay charged: a second refund of the failed job would eat into them."""
    user = new_user(url, kept=50)
    job_id = new_job(url, db.STARTED, user=user)
    assert usage(url, user) == 50 + CHARGE
    assert db.mark_failed(job_id, "OutOfMemory: ran out", url=url)
    assert usage(url, user) == 50 and db.get_job(job_id, url).audio_seconds == 0
    assert not db.mark_failed(job_id, "lost: message gone", url=url)
    with db.session(url) as s:
        assert db.refund_job(s, job_id) == 0.0
    assert usage(url, user) == 50


def test_the_users_fault_keeps_its_charge_when_closed_again(url):
    """A bad input fails without a refund; a later close that would refund (the janitor, a canvas's
    error callback) is refused, so the charge stands."""
    user = new_user(url)
    job_id = new_job(url, db.STARTED, user=user)
    assert db.mark_failed(job_id, "BadInput: not audio", refund=False, url=url)
    assert not db.mark_failed(job_id, "a part of the workflow failed", refund=True, url=url)
    assert usage(url, user) == CHARGE and db.get_job(job_id, url).audio_seconds == CHARGE


def test_a_revoked_job_keeps_its_charge(url):
    user = new_user(url)
    job_id = new_job(url, db.STARTED, user=user)
    assert db.mark_revoked(job_id, url=url)
    row = db.get_job(job_id, url)
    assert row.status == db.REVOKED and row.finished_at is not None and usage(url, user) == CHARGE


def test_a_transition_joins_the_callers_transaction(url):
    """Passed ``tx``, the state change and its refund commit or roll back with the caller's work."""
    user = new_user(url)
    job_id = new_job(url, db.STARTED, user=user)
    with pytest.raises(RuntimeError), db.session(url) as s:
        assert db.mark_failed(job_id, "RuntimeError: rolled back", tx=s)
        raise RuntimeError("the caller's work failed")
    assert db.get_job(job_id, url).status == db.STARTED and usage(url, user) == CHARGE
    with db.session(url) as s:
        assert db.mark_failed(job_id, "RuntimeError: committed", tx=s)
    assert db.get_job(job_id, url).status == db.FAILED and usage(url, user) == 0


def test_of_racing_closes_exactly_one_happens(url):
    """Eight threads close one job at once, four as a success, four as a refunded failure: one wins,
    the row says which, and the charge was refunded only if a failure won (and only once)."""
    user = new_user(url)
    job_id = new_job(url, db.STARTED, user=user)
    barrier = threading.Barrier(8)
    outcomes: dict[str, bool] = {}

    def close(label: str, action) -> None:
        barrier.wait()
        outcomes[label] = action()

    threads = [threading.Thread(target=close, args=(f"succeeded-{i}", lambda: db.mark_succeeded(job_id, url=url)))
               for i in range(4)]
    threads += [threading.Thread(target=close, args=(f"failed-{i}", lambda: db.mark_failed(job_id, "x", url=url)))
                for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    winners = [label for label, happened in outcomes.items() if happened]
    assert len(outcomes) == 8 and len(winners) == 1, outcomes
    row = db.get_job(job_id, url)
    assert winners[0].startswith(row.status)
    assert usage(url, user) == (0 if row.status == db.FAILED else CHARGE)
