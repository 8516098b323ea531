"""Test session set-up: a private state directory and free ports, before echonote is imported.

Every test talks to a ``redis-server`` this session starts on a free port,
never to a service that happens to run on the machine.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_SESSION_DIR = Path(tempfile.mkdtemp(prefix="echonote-test-"))


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


os.environ.update(
    {
        "ECHONOTE_STATE_DIR": str(_SESSION_DIR / "state"),
        "ECHONOTE_DATA_DIR": str(_SESSION_DIR / "data"),
        "ECHONOTE_RESULTS_DIR": str(_SESSION_DIR / "results"),
        "ECHONOTE_UPLOAD_DIR": str(_SESSION_DIR / "uploads"),
        "ECHONOTE_REDIS_PORT": str(_free_port()),
        "ECHONOTE_FLOWER_PORT": str(_free_port()),
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


def isolated_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """Environment for a CLI/stack subprocess with its own state dir and free ports."""
    env = dict(os.environ)
    env.update(
        {
            "ECHONOTE_STATE_DIR": str(tmp_path / "state"),
            "ECHONOTE_REDIS_PORT": str(_free_port()),
            "ECHONOTE_FLOWER_PORT": str(_free_port()),
        }
    )
    env.update(extra)
    return env


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "echonote", *args],
        env=env or dict(os.environ), capture_output=True, text=True, timeout=timeout, cwd=ROOT,
    )


free_port = _free_port
