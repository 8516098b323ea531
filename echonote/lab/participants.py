"""Several participants on one host: each gets its own folders and ports, so stacks never clash.

Participant N gets ``ECHONOTE_HOME=<base>/participant-N`` (its own database,
uploads, results, logs, Redis data and notebook copies) and ports offset by
N from fixed bases (Redis 6400+N, Flower 5600+N, JupyterLab 8900+N, the local object store
9400+N), away from the single-user defaults (6390, 5555, 8888, 9390). Settings that would share
someone else's folders, broker or logins are unset.
"""
from __future__ import annotations

from pathlib import Path

from echonote import config

MAX_PARTICIPANTS = 99
PORT_BASES = {"redis_port": 6400, "flower_port": 5600, "lab_port": 8900, "storage_port": 9400}
#: settings that would point a participant at someone else's folders, broker or logins: cleared
CLEARED = (*config.DIR_KEYS, "database_url", "broker_url", "result_backend", "redis_password", "flower_basic_auth")


def participant_env(number: int, base: Path | None = None) -> dict[str, str]:
    """The environment that gives participant ``number`` (1..99) a stack of its own."""
    if not 1 <= number <= MAX_PARTICIPANTS:
        raise ValueError(f"participant number must be 1..{MAX_PARTICIPANTS}, got {number}")
    base = (base or config.load().state_path / "participants").expanduser().resolve()
    env = {config.BY_KEY["home"].env: str(base / f"participant-{number}")}
    env.update({config.BY_KEY[key].env: str(port + number) for key, port in PORT_BASES.items()})
    return env


def shell_lines(env: dict[str, str]) -> list[str]:
    """``export NAME=value`` lines (quoted for sh), plus a warning comment for each port already taken."""
    import shlex

    from echonote.ops.stack import port_in_use

    lines = ["unset " + " ".join(config.BY_KEY[key].env for key in CLEARED)]
    lines += [f"export {name}={shlex.quote(value)}" for name, value in env.items()]
    lines += [f"# warning: port {value} ({name}) is in use right now" for name, value in env.items()
              if name.endswith("_PORT") and port_in_use(int(value))]
    return lines
