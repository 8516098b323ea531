"""What a job message weighs in the broker: the audio's URI versus the audio's bytes inside the message.

Celery's advice is to send a small reference and keep the bytes in shared storage. This measures
why, on the real broker: the same task is sent by name twice to a queue that no worker consumes —
once with the kwargs the client really sends (a URI), once with the audio itself base64-encoded in
the kwargs (the anti-pattern) — and each message is weighed where it waits (Redis ``MEMORY USAGE``
of the queue's key, ``INFO used_memory`` before and after) and then taken back with kombu, as a
worker would, timing publish → received and decoded. Nothing runs the task; the queue is deleted.

Light: celery, kombu and the Redis client only (no torch, no numpy); used by notebook 06 and
``bench/storage.py``.
"""
from __future__ import annotations

import base64
import json
import statistics
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from echonote import names
from echonote.lab.tables import Table


@dataclass(frozen=True)
class MessageWeight:
    """One kind of message, measured on the broker (medians over the repeats)."""

    label: str
    kwargs_bytes: int        # the task's kwargs as JSON: what the sender put in
    message_bytes: int       # the message as Redis stores it (the list item; kombu base64-encodes the body)
    key_memory_bytes: int    # Redis MEMORY USAGE of the queue's key while the message waits
    used_memory_delta: int   # Redis INFO used_memory after publishing minus before
    publish_ms: float        # send_task until it returned
    round_trip_ms: float     # send_task start until a consumer holds the decoded kwargs

    def row(self) -> dict:
        return {"message": self.label, "kwargs (bytes)": self.kwargs_bytes, "in Redis (bytes)": self.message_bytes,
                "MEMORY USAGE of the queue": self.key_memory_bytes, "used_memory Δ": self.used_memory_delta,
                "publish (ms)": round(self.publish_ms, 1), "publish → received (ms)": round(self.round_trip_ms, 1)}


@contextmanager
def captured_kwargs(task_name: str = names.DIARIZE) -> Iterator[list[dict]]:
    """``with captured_kwargs() as sent:`` the kwargs of every ``task_name`` message this process publishes.

    Lets a measurement use exactly what the client sends (``submit_diarization`` builds it), not a guess.
    """
    from celery.signals import before_task_publish

    seen: list[dict] = []

    def keep(sender=None, body=None, **_):
        if sender == task_name and isinstance(body, (list, tuple)) and len(body) >= 2:
            seen.append(dict(body[1]))

    before_task_publish.connect(keep, weak=False)
    try:
        yield seen
    finally:
        before_task_publish.disconnect(keep)


def bytes_in_message_kwargs(audio: str | Path, uri_kwargs: dict) -> dict:
    """The anti-pattern: the same kwargs with the audio file's bytes (base64) where the URI was."""
    data = base64.b64encode(Path(audio).read_bytes()).decode("ascii")
    kwargs = {key: value for key, value in uri_kwargs.items() if key != "audio_path"}
    return {"audio_base64": data, **kwargs}


def measure(label: str, kwargs: dict, *, task_name: str = names.DIARIZE, repeats: int = 3, app=None) -> MessageWeight:
    """Send ``task_name`` with ``kwargs`` to a fresh queue nobody consumes, ``repeats`` times; weigh and take back."""
    if app is None:
        from echonote.celery_app import app
    queue = f"weigh-{uuid.uuid4().hex[:12]}"
    samples: list[tuple[int, int, int, float, float]] = []
    with app.connection_for_write() as conn:
        redis = conn.default_channel.client
        try:
            for _ in range(repeats):
                before = _used_memory(redis)
                started = time.perf_counter()
                app.send_task(task_name, kwargs=kwargs, queue=queue)
                published = time.perf_counter()
                stored = redis.lindex(queue, 0)
                if stored is None:
                    raise RuntimeError(f"the message did not reach the Redis list {queue!r}: is the broker Redis?")
                key_memory = int(redis.memory_usage(queue, samples=0) or 0)
                delta = _used_memory(redis) - before
                taken = time.perf_counter()
                received = _receive(conn, queue)
                # publish + take back, leaving out the weighing in between
                round_trip = (published - started) + (time.perf_counter() - taken)
                if received != kwargs:
                    raise RuntimeError("the message taken back is not the one sent")
                samples.append((len(stored), key_memory, delta, (published - started) * 1e3, round_trip * 1e3))
        finally:
            redis.delete(queue, f"_kombu.binding.{queue}")
    sizes, memory, deltas, publish, round_trip = zip(*samples, strict=True)
    return MessageWeight(label, len(json.dumps(kwargs)), int(statistics.median(sizes)), int(statistics.median(memory)),
                         int(statistics.median(deltas)), statistics.median(publish), statistics.median(round_trip))


def uri_versus_bytes(audio: str | Path, uri_kwargs: dict, *, repeats: int = 3, app=None) -> list[MessageWeight]:
    """The URI message the client sends and the bytes-in-the-message one for the same ``audio``, side by side."""
    return [measure("URI (what echonote sends)", uri_kwargs, repeats=repeats, app=app),
            measure("audio bytes in the message (anti-pattern)", bytes_in_message_kwargs(audio, uri_kwargs),
                    repeats=repeats, app=app)]


def weights_table(weights: list[MessageWeight], title: str = "what one job puts through Redis") -> Table:
    return Table([w.row() for w in weights], title=title)


def _used_memory(redis) -> int:
    return int(redis.info("memory")["used_memory"])


def _receive(conn, queue: str, timeout: float = 60.0) -> dict:
    """Take the waiting message off ``queue`` with kombu, as a worker does, and return its decoded kwargs."""
    simple = conn.SimpleQueue(queue, no_ack=True)
    try:
        message = simple.get(block=True, timeout=timeout)
        _args, kwargs, _embed = message.decode()
        return kwargs
    finally:
        simple.close()
