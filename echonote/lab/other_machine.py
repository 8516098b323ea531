"""A worker "on another machine" for the notebooks: it shares no folder with this kernel.

It runs on this computer, but as a second machine would: its own tree (home, state, data, uploads,
results, its object cache), its own working directory, and an environment built from scratch that
names only what a remote worker is given — the broker and result backend URLs, the store's URL,
endpoint and key. None of this kernel's folders is named in it; the audio reaches it by URI from
the store and its outputs go back there.

The jobs database is the one more shared service a real deployment has (``ECHONOTE_DATABASE_URL``,
e.g. PostgreSQL). Here the worker keeps its own SQLite file: the results come back through the
result backend all the same, and the client's job row is closed from that result by the janitor.

Light: no torch, no numpy (the worker process loads those, not the kernel).
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from echonote import config, storage
from echonote.ops.stack import Stack

#: the queue the notebooks' other machine consumes (and nothing else does)
QUEUE = "other-machine"
#: settings that name this machine's folders, files or local servers: never handed to the other machine
MACHINE_LOCAL = ("home", "state_dir", "data_dir", "upload_dir", "results_dir", "model_cache", "database_url",
                 "redis_port", "redis_password", "flower_port", "flower_basic_auth", "storage_port",
                 "broker_url", "result_backend", "storage_url", "storage_endpoint", "storage_access_key",
                 "storage_secret_key")

#: the AWS variables that name files of this machine (the key variables themselves pass through)
AWS_FILES = frozenset({"AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_PROFILE", "AWS_CA_BUNDLE"})


def remote_environ(root: Path, cfg: config.Config | None = None) -> dict[str, str]:
    """The environment of a worker whose whole world is ``root``, plus the broker and the store of ``cfg``.

    Holds the store's secret and the broker's password: hand it to the worker process only, never print it.
    """
    cfg = cfg or config.load()
    local_envs = {config.BY_KEY[key].env for key in MACHINE_LOCAL if key in config.BY_KEY} | AWS_FILES
    env = {k: v for k, v in os.environ.items() if k not in local_envs}  # AWS_ACCESS_KEY_ID & co. pass through
    home = root / "home"
    env.update({
        "HOME": str(home),
        config.BY_KEY["home"].env: str(home / "echonote"),
        config.BY_KEY["state_dir"].env: str(root / "state"),
        config.BY_KEY["data_dir"].env: str(root / "data"),
        config.BY_KEY["upload_dir"].env: str(root / "data" / "uploads"),
        config.BY_KEY["results_dir"].env: str(root / "results"),
        config.BY_KEY["broker_url"].env: cfg.effective_broker_url,
        config.BY_KEY["result_backend"].env: cfg.effective_result_backend,
    })
    store = storage.configured(cfg)
    if store is not None:
        options = storage.storage_options(cfg)
        env[config.BY_KEY["storage_url"].env] = cfg.storage_url
        if options.get("endpoint_url"):
            env[config.BY_KEY["storage_endpoint"].env] = options["endpoint_url"]
        if options.get("key") or options.get("secret"):
            env[config.BY_KEY["storage_access_key"].env] = options.get("key", "")
            env[config.BY_KEY["storage_secret_key"].env] = options.get("secret", "")
    return env


class OtherMachine(Stack):
    """Roles started in a tree of their own, with :func:`remote_environ`; ``start_worker`` as on any stack.

    ``with OtherMachine() as other: other.start_worker("worker-remote", queues=["remote"])``
    """

    def __init__(self, root: str | Path | None = None, cfg: config.Config | None = None):
        self.root = Path(root) if root else Path(tempfile.mkdtemp(prefix="echonote-other-machine-"))
        (self.root / "home").mkdir(parents=True, exist_ok=True)
        self.environ = remote_environ(self.root, cfg)
        super().__init__(config.load(self.environ), detach=False)

    def child_env(self) -> dict[str, str]:
        return {**self.environ, "PYTHONUNBUFFERED": "1"}

    def celery_argv(self, *args: str) -> list[str]:
        """As on any stack, run from this machine's own home folder (``env --chdir``): no shared working dir."""
        return ["env", f"--chdir={self.root / 'home'}", *super().celery_argv(*args)]

    def files(self) -> list[str]:
        """Every file in this machine's tree, relative to it (what it holds: its cache, logs, database)."""
        return sorted(str(p.relative_to(self.root)) for p in self.root.rglob("*") if p.is_file())

    def forget(self) -> None:
        """Stop what runs here and delete the whole tree."""
        self.down()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> OtherMachine:
        return self

    def __exit__(self, *exc) -> None:
        self.forget()
