"""Where the project is, free ports, and environments for the processes a test starts."""
from __future__ import annotations

import os
import socket
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port nothing listens on right now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def isolated_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """Environment for a CLI/stack subprocess with its own state dir and free ports."""
    env = dict(os.environ)
    env.update(
        {
            "ECHONOTE_STATE_DIR": str(tmp_path / "state"),
            "ECHONOTE_REDIS_PORT": str(free_port()),
            "ECHONOTE_FLOWER_PORT": str(free_port()),
        }
    )
    env.update(extra)
    return env


def kernel_env() -> dict[str, str]:
    """This session's private settings, absolute paths, for a notebook kernel and what it starts."""
    env = dict(os.environ)
    env.setdefault("ECHONOTE_DATA_DIR", str(ROOT / "data"))
    env.setdefault("ECHONOTE_STORAGE_PORT", str(free_port()))  # notebook 06 starts a local store: never on 9390
    env["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    return env
