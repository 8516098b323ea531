"""The object store tests talk to: the storage role's real S3 server (moto's emulator) on a free port."""
from __future__ import annotations

import io
import json
import os
import re
import struct
import wave
from dataclasses import dataclass
from pathlib import Path

from support.environments import free_port


@dataclass
class RunningStore:
    """A started storage role: its Stack, state folder and what it wrote to storage.json."""

    stack: object
    state: Path
    endpoint: str
    bucket: str
    key: str
    secret: str

    def env(self, **extra: str) -> dict[str, str]:
        """ECHONOTE_STORAGE_* settings that reach this store from anywhere (another state dir, another user)."""
        return {"ECHONOTE_STORAGE_URL": f"s3://{self.bucket}", "ECHONOTE_STORAGE_ENDPOINT": self.endpoint,
                "ECHONOTE_STORAGE_ACCESS_KEY": self.key, "ECHONOTE_STORAGE_SECRET_KEY": self.secret, **extra}

    def log(self) -> str:
        return self.stack.log_since_start("storage")

    def client(self, service: str = "s3", key: str | None = None, secret: str | None = None):
        """A botocore client signed with this store's key (or the one given)."""
        import botocore.session

        return botocore.session.get_session().create_client(
            service, endpoint_url=self.endpoint, region_name="us-east-1",
            aws_access_key_id=key or self.key, aws_secret_access_key=secret or self.secret)

    def keys(self, prefix: str = "") -> list[str]:
        listed = self.client().list_objects_v2(Bucket=self.bucket, Prefix=prefix)
        return sorted(item["Key"] for item in listed.get("Contents", []))


def start_store(folder: Path, **env: str) -> RunningStore:
    """``Stack.up(("storage",))`` with its own state folder and a free port: the role under test."""
    from echonote import config
    from echonote.ops.stack import Stack

    environ = {**os.environ, "ECHONOTE_STATE_DIR": str(folder / "state"), "ECHONOTE_STORAGE_PORT": str(free_port()),
               "ECHONOTE_STORAGE_URL": "s3://echonote", **env}
    stack = Stack(config.load(environ), detach=False)
    stack.up(("storage",))
    settings = json.loads((folder / "state" / "storage.json").read_text())
    return RunningStore(stack, folder / "state", settings["endpoint"], settings["bucket"], settings["key"],
                        settings["secret"])


def requests_in_log(log: str, method: str, path_prefix: str) -> int:
    """How many ``METHOD /path...`` requests the server's access log shows under ``path_prefix``."""
    return len(re.findall(rf'"(?:\x1b\[[0-9;]*m)*{method} {re.escape(path_prefix)}[^ ]* HTTP', log))  # colours too


def wav_bytes(seconds: float, rate: int = 16000) -> bytes:
    """A PCM16 mono WAV of a quiet sweep, ``seconds`` long (no numpy needed)."""
    import math

    frames = b"".join(struct.pack("<h", int(3000 * math.sin(2 * math.pi * (200 + 50 * i / rate) * i / rate)))
                      for i in range(int(seconds * rate)))
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(frames)
    return buffer.getvalue()


def fetch_in_process(root: str, max_bytes: int, uri: str, queue, env: dict[str, str]) -> None:
    """In a process of its own: fetch ``uri`` through an object cache at ``root`` and put the copy's sha256 on
    ``queue`` (the parallel-fetch test starts four at once)."""
    import hashlib
    import os
    from pathlib import Path

    os.environ.update(env)
    from echonote.worker.object_cache import ObjectCache

    with ObjectCache(Path(root), max_bytes).local_copy(uri) as path:
        queue.put(hashlib.sha256(path.read_bytes()).hexdigest())
