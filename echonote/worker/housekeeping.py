"""Light housekeeping tasks: the quota reset that beat schedules, and a smoke task."""
from __future__ import annotations

import os
import signal
import socket
import time

from echonote import db, names
from echonote.celery_app import app
from echonote.errors import BadInput
from echonote.worker.base_task import EchonoteTask

MAX_SLEEP = 3600


@app.task(name=names.RESET_DAILY_QUOTAS, base=EchonoteTask)
def reset_daily_quotas() -> int:
    """Zero every user's daily usage; returns the rows changed (0 when run twice)."""
    return db.reset_daily_quotas()


#: what ``ping(drill=...)`` does to its own pool process, for the fault drills and their tests
DRILLS = {
    "memory": "ask for more memory than any machine has (a real MemoryError from the allocator)",
    "sigkill": "kill -9 its own pool process, as the out-of-memory killer does",
    "error": "raise an unexpected error, as a bug in task code does",
}


class DrillError(RuntimeError):
    """The unexpected error ``ping(drill="error")`` raises on purpose."""



@app.task(name=names.PING, bind=True, base=EchonoteTask)
def ping(self, payload=None, sleep=0, stubborn=False, drill=None) -> dict:
    """Smoke task: proves a worker received a message by name and ran the code.

    ``sleep`` simulates work; ``stubborn=True`` sleeps through the soft time
    limit, as native code that never returns to Python does, so the hard
    limit can be seen replacing the pool process. ``drill`` (see :data:`DRILLS`)
    fails the run the way a job that runs out of memory does.
    """
    if isinstance(sleep, bool) or not isinstance(sleep, (int, float)) or not 0 <= sleep <= MAX_SLEEP:
        raise BadInput(f"sleep must be a number of seconds between 0 and {MAX_SLEEP}, got {sleep!r}")
    if drill is not None and drill not in DRILLS:
        raise BadInput(f"drill must be one of {sorted(DRILLS)} or left out, got {drill!r}")
    if stubborn:
        # native code runs no Python signal handlers: neither the soft limit (SIGUSR1) nor a polite SIGTERM
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1, signal.SIGTERM})
        try:
            time.sleep(sleep)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    else:
        time.sleep(sleep)
    if drill == "memory":
        bytearray(1 << 62)  # 4 EiB: the allocator refuses at once, nothing is touched
    elif drill == "sigkill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif drill == "error":
        raise DrillError("the error drill failed this run on purpose (a stand-in for a bug in task code)")
    return {"pong": payload, "worker": self.request.hostname, "host": socket.gethostname(), "pid": os.getpid()}
