"""Test session set-up: a private state directory and free ports, before echonote is imported.

Every test talks to a ``redis-server`` this session starts on a free port,
never to a service that happens to run on the machine.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from support.environments import free_port

_SESSION_DIR = Path(tempfile.mkdtemp(prefix="echonote-test-"))

os.environ.update(
    {
        "ECHONOTE_STATE_DIR": str(_SESSION_DIR / "state"),
        "ECHONOTE_DATA_DIR": str(_SESSION_DIR / "data"),
        "ECHONOTE_RESULTS_DIR": str(_SESSION_DIR / "results"),
        "ECHONOTE_UPLOAD_DIR": str(_SESSION_DIR / "uploads"),
        "ECHONOTE_REDIS_PORT": str(free_port()),
        "ECHONOTE_FLOWER_PORT": str(free_port()),
        "ECHONOTE_USER": "tester",
        "PYANNOTE_METRICS_ENABLED": "false",
    }
)
for _key in ("ECHONOTE_BROKER_URL", "ECHONOTE_RESULT_BACKEND", "ECHONOTE_WORKSHOP_SCHEDULE_SECONDS"):
    os.environ.pop(_key, None)

from echonote.ops.stack import Stack  # noqa: E402  (after the environment is set)


@pytest.fixture(scope="session")
def stack():
    """The session's stack: private Redis + a full worker (no beat, no Flower)."""
    s = Stack(detach=False).up(("redis", "worker"))
    yield s
    from echonote.client import release_pending_results

    release_pending_results()
    s.down()

