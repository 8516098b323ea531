"""``wait_until``: the one polling loop (a role ready, a log line, a task seen by Flower)."""
from __future__ import annotations

import time

import pytest

from echonote.ops.waiting import wait_until


def test_returns_the_first_truthy_value_without_waiting_further():
    answers = iter([None, 0, "", "ready", "later"])
    assert wait_until(lambda: next(answers), timeout=5, interval=0.01, what="an answer") == "ready"
    assert next(answers) == "later", "the predicate must not be called again once it answered"


def test_a_condition_that_never_holds_raises_a_timeout_naming_what_was_awaited():
    calls = []
    started = time.monotonic()
    with pytest.raises(TimeoutError, match=r"timed out after 0.3 s waiting for the worker to say ready"):
        wait_until(lambda: calls.append(1), timeout=0.3, interval=0.05, what="the worker to say ready")
    waited = time.monotonic() - started
    assert 0.3 <= waited < 2.0, waited
    assert len(calls) >= 3, "the predicate is polled every interval, not once"


def test_what_may_be_computed_when_the_wait_fails():
    seen = {"a"}
    with pytest.raises(TimeoutError, match=r"\['b'\] to finish"):
        wait_until(lambda: {"a", "b"} <= seen, timeout=0.1, interval=0.02,
                   what=lambda: f"{sorted({'a', 'b'} - seen)} to finish")


def test_an_error_in_the_predicate_ends_the_wait_at_once():
    def broken():
        raise RuntimeError("the process died")

    started = time.monotonic()
    with pytest.raises(RuntimeError, match="the process died"):
        wait_until(broken, timeout=30, interval=0.01, what="never")
    assert time.monotonic() - started < 1
