"""One polling loop for everything that waits: a role ready, a log line, a task seen by Flower.

Light (standard library only), so beat-side tools, the lab and the benchmarks can all use it.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["wait_until"]

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout: float, interval: float = 0.25,
               what: str | Callable[[], str] = "the condition") -> T:
    """Call ``predicate()`` every ``interval`` seconds until it returns something truthy; return that value.

    After ``timeout`` seconds, raise :class:`TimeoutError` naming ``what`` was awaited; ``what`` may be a
    function, called only then, so the message can say what is still missing. An exception raised by
    ``predicate`` is not caught: it ends the wait at once.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        left = deadline - time.monotonic()
        if left <= 0:
            described = what() if callable(what) else what
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {described}")
        time.sleep(min(interval, left))
