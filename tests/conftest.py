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
        "ECHONOTE_STORAGE_PORT": str(free_port()),  # a stack started with a store never takes the default 9390
        "ECHONOTE_USER": "tester",
        "PYANNOTE_METRICS_ENABLED": "false",
    }
)
for _key in ("ECHONOTE_BROKER_URL", "ECHONOTE_RESULT_BACKEND", "ECHONOTE_WORKSHOP_SCHEDULE_SECONDS",
             "ECHONOTE_STORAGE_URL", "ECHONOTE_STORAGE_ENDPOINT", "ECHONOTE_STORAGE_ACCESS_KEY",
             "ECHONOTE_STORAGE_SECRET_KEY",
             # a developer's own cloud credentials and endpoint never reach a test (or a store it starts)
             "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_PROFILE",
             "AWS_DEFAULT_REGION", "AWS_REGION"):
    os.environ.pop(_key, None)
os.environ["AWS_CONFIG_FILE"] = os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull  # nor ~/.aws

from echonote.ops.stack import Stack  # noqa: E402  (after the environment is set)


@pytest.fixture(scope="session")
def stack():
    """The session's stack: private Redis + a full worker (no beat, no Flower)."""
    s = Stack(detach=False).up(("redis", "worker"))
    yield s
    from echonote.client import release_pending_results

    release_pending_results()
    s.down()


@pytest.fixture(scope="session")
def object_store(tmp_path_factory):
    """The session's object store: the storage role (moto's S3 emulator, in memory) on a free port, with its
    own state folder, bucket ``echonote`` and generated key (tests/support/object_store.py)."""
    from support.object_store import start_store

    store = start_store(tmp_path_factory.mktemp("object-store"))
    yield store
    store.stack.down()

