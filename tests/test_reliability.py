"""Fault drills with real processes: killed workers, a restarted broker, two beats, time limits, load."""
from __future__ import annotations

import pytest

from echonote.testing import chaos

pytest.importorskip("pyannote.audio", reason="the worker extra is not installed")


@pytest.mark.slow
def test_worker_killed_mid_job_loses_nothing(stack):
    outcome = chaos.worker_killed(stack, n=20)
    assert outcome.completed == 20 and outcome.lost == 0, outcome.observed
    assert outcome.figures["killed_job_attempts"] == 2, "the killed job must be redelivered once"
    assert outcome.duplicated == 0 and outcome.deliveries == 21
    assert outcome.figures["result_files"] == 20 and outcome.figures["worker_alive_after"]


@pytest.mark.slow
def test_whole_worker_killed_is_rescued_by_the_janitor(stack):
    """Without the janitor the stranded message would wait for the 2-hour visibility timeout."""
    outcome = chaos.worker_node_killed(stack, n=6)
    assert outcome.completed == 6 and outcome.lost == 0, outcome.observed
    assert outcome.figures["janitor"]["requeued"], "the janitor found nothing to requeue"
    assert outcome.figures["victim_attempts"] == 2 and outcome.duplicated == 0


@pytest.mark.slow
def test_broker_restart_mid_batch_loses_nothing(stack):
    outcome = chaos.broker_restart(stack, n=10)
    assert outcome.completed == 10 and outcome.lost == 0, outcome.observed
    assert outcome.figures["workers_reconnected"]
    assert outcome.figures["unacked_left"] == 0, "an unacked message would run a second time later"
    assert stack.worker_ping("worker", timeout=5), "the stack's own worker must reconnect too"


@pytest.mark.slow
def test_two_beats_never_double_fire_and_a_standby_takes_over(stack, monkeypatch):
    monkeypatch.setenv("ECHONOTE_WORKSHOP_SCHEDULE_SECONDS", "1")
    monkeypatch.setenv("ECHONOTE_BEAT_LOCK_SECONDS", "4")
    outcome = chaos.two_beats(stack, window=12)
    sends = outcome.figures["sends_per_beat"]
    assert min(sends.values()) == 0, f"both beats sent: {sends}"
    assert 8 <= sum(sends.values()) <= 14, sends
    assert outcome.recover_s is not None and outcome.recover_s <= 4 + 5


def test_time_limits_end_jobs_clearly_and_the_worker_keeps_serving(stack):
    outcome = chaos.time_limits(stack)
    assert outcome.figures["soft"] == "TimeLimitReached" and "ECHONOTE_SOFT_TIME_LIMIT" in outcome.figures["soft_error"]
    assert outcome.figures["hard"] == "TimeLimitExceeded" and "hard time limit of 3 s" in outcome.figures["hard_error"]
    assert outcome.figures["hard_pid_gone"], "the pool process that ran past the hard limit must be replaced"
    assert outcome.figures["soft_attempts"] == outcome.figures["hard_attempts"] == 1, "time limits are not retried"
    assert stack.worker_ping("worker")


def test_broker_down_at_submit_fails_fast():
    outcome = chaos.broker_down_at_submit()
    assert outcome.ok, outcome.observed
    assert "cannot reach the broker" in outcome.figures["error"]


@pytest.mark.slow
def test_load_200_jobs_from_4_clients(stack):
    outcome = chaos.load(stack, jobs=200, clients=4)
    assert outcome.completed == 200, outcome.figures["errors"]
