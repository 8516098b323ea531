"""Storage by URI against the local path, and what one job puts through Redis, side by side in one run.

1. **End to end** (``submit_diarization`` until the result is back) on a 10-minute conversation:
   - *local path*: a worker with no store reads the file from the data root (one laptop, as before);
   - *through the store*: ``ECHONOTE_STORAGE_URL`` set, the client uploads the file once (its content
     hash is in the key) and sends the URI; a worker with the store fetches it into its cache, diarizes
     and writes its outputs back to the store.
   One warm-up job each (models load, the store worker's cache fills), then ``--n`` timed jobs each,
   interleaved, one at a time. Target: the store's median (warm cache) within +10 % of the local one.
2. **Two submits, one upload**: the objects under the store's ``uploads/`` after each submit of the
   same file. Target: one object, not re-sent (same ETag and time).
3. **Broker memory for the job message** (:mod:`echonote.lab.message_weight`): the kwargs the client
   really sent (a URI) against the same task with the audio's bytes base64 in the kwargs (the
   anti-pattern), each sent to a queue no worker consumes, weighed in Redis (``MEMORY USAGE``,
   ``used_memory`` delta) and taken back with kombu. Target: the URI message under 2 KB.

The store is ``echonote up --role storage``: moto's S3 server, an emulator on loopback (in memory;
no disk or network costs of a real store are in these figures).

    .venv/bin/python bench/storage.py [--n 2] [--wav FILE]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _stack import private_stack_env, table  # noqa: E402

BUCKET_URL = "s3://echonote-bench"
TEN_MINUTES = ROOT / "bench" / ".cache" / "ten_minutes"  # the same file bench/diarization.py uses
LOCAL_QUEUE, STORE_QUEUE = "bench-local", "bench-store"


def ten_minute_wav() -> Path:
    """A 10-minute synthetic two-or-more-speaker conversation (espeak-ng voices; made once, cached)."""
    found = sorted(TEN_MINUTES.glob("*.wav"))
    if not found:
        from echonote.testing.synth import generate_set

        print("making the 10-minute conversation once (espeak-ng) ...", flush=True)
        generate_set(TEN_MINUTES, 1, seed=3, duration=600.0, prefix="ten")
        found = sorted(TEN_MINUTES.glob("*.wav"))
    return found[0]


def store_env(on: bool) -> None:
    """Point this process (and the workers it starts next) at the store, or at the local folders."""
    if on:
        os.environ["ECHONOTE_STORAGE_URL"] = BUCKET_URL
    else:
        os.environ.pop("ECHONOTE_STORAGE_URL", None)


def end_to_end(wav: Path, through_store: bool) -> tuple[float, dict]:
    """Seconds from submit to result for one diarization of ``wav``, and the result."""
    from echonote import client

    store_env(through_store)
    started = time.perf_counter()
    job = client.submit_diarization(wav, user="bench", queue=STORE_QUEUE if through_store else LOCAL_QUEUE)
    result = client.wait(job.task_id, timeout=1800)
    return time.perf_counter() - started, result


def uploads_in_store() -> dict[str, tuple[str, str]]:
    """Key -> (ETag, LastModified) of every object under the store's uploads/."""
    from echonote import storage

    store_env(True)
    store = storage.configured()
    fs = storage.filesystem("s3")
    folder = store.uri("uploads")[len("s3://"):]
    found = fs.find(folder, detail=True) if fs.exists(folder) else {}
    return {key: (str(info.get("ETag")), str(info.get("LastModified"))) for key, info in found.items()}


def store_uris(result: dict) -> list[str]:
    """Every s3:// URI under results/ that a result lists: its outputs in the store (not its input)."""
    found = []

    def walk(value):
        if isinstance(value, str) and value.startswith("s3://") and "/results/" in value:
            found.append(value)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(result)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=3, help="timed jobs per path after the warm-up (median reported)")
    parser.add_argument("--wav", type=Path, help="audio to use instead of the 10-minute synthetic conversation")
    parser.add_argument("--repeats", type=int, default=3, help="sends per message kind for the broker figures")
    args = parser.parse_args()
    state = private_stack_env()
    os.environ.update(ECHONOTE_DATA_DIR=os.path.join(state, "data"), ECHONOTE_WORKER_CONCURRENCY="1")
    wav = (args.wav or ten_minute_wav()).resolve()

    from echonote import db
    from echonote.lab import message_weight
    from echonote.ops.stack import Stack

    store_env(True)
    stack = Stack(detach=False).up(("redis", "storage"))
    db.set_quota("bench", 1e12)
    try:
        store_env(False)
        stack.start_worker("worker", queues=[LOCAL_QUEUE], concurrency=1)
        store_env(True)
        stack.start_worker("worker-store", queues=[STORE_QUEUE], concurrency=1)

        # Two submits of the same file: the first uploads, the second finds the content and sends nothing.
        before = uploads_in_store()
        with message_weight.captured_kwargs() as sent:
            cold, cold_result = end_to_end(wav, through_store=True)
        after_first = uploads_in_store()
        second, _ = end_to_end(wav, through_store=True)  # the cache is warm from here on
        after_second = uploads_in_store()
        warmup_local, local_result = end_to_end(wav, through_store=False)

        local, store = [], []
        for _ in range(args.n):
            local.append(end_to_end(wav, through_store=False)[0])
            store.append(end_to_end(wav, through_store=True)[0])

        store_env(True)
        uri_kwargs = sent[0]
        weights = message_weight.uri_versus_bytes(wav, uri_kwargs, repeats=args.repeats)
    finally:
        stack.down()

    from echonote.client import audio_info

    seconds = audio_info.duration_seconds(wav) or 0.0
    size = wav.stat().st_size
    print(f"storage bench: {wav.name}, {seconds / 60:.1f} min, {size / 1e6:.1f} MB; store = moto's S3 server "
          "(emulator, loopback); one worker per path, concurrency 1, jobs one at a time")
    print()
    print("## End to end: submit_diarization until the result is back")
    print()
    med_local, med_store = statistics.median(local), statistics.median(store)
    rows = [
        ["local path (no store)", f"{med_local:.1f}", f"{min(local):.1f}", " ".join(f"{x:.1f}" for x in local), "1.00"],
        ["through the store, warm cache", f"{med_store:.1f}", f"{min(store):.1f}", " ".join(f"{x:.1f}" for x in store),
         f"{med_store / med_local:.2f}"],
        ["through the store, first job (upload, fetch, model load)", f"{cold:.1f}", "-", "-", "-"],
        ["local path, first job (model load)", f"{warmup_local:.1f}", "-", "-", "-"],
    ]
    print(table(["path", "median s", "min s", f"runs in order (n={args.n})", "median vs local"], rows))
    overhead = med_store / med_local - 1
    print(f"\ngoal: store within +10 % of local (warm cache) -> {'met' if overhead <= 0.10 else 'NOT met'} "
          f"({overhead:+.1%})")
    outputs = store_uris(cold_result)
    print(f"outputs written back to the store ({len(outputs)}): {', '.join(outputs[:4]) or 'NONE'}")
    print(f"local path job: outputs on the worker's disk ({local_result.get('rttm_path')}), "
          f"{len(store_uris(local_result))} in the store")
    print()
    print("## Two submits of the same file")
    print()
    new_first = sorted(set(after_first) - set(before))
    new_second = sorted(set(after_second) - set(after_first))
    unchanged = all(after_second[key] == after_first[key] for key in new_first)
    rows = [["1st submit", len(new_first), "yes" if new_first else "no", f"{cold:.1f}"],
            ["2nd submit (same file)", len(new_second), "no" if not new_second and unchanged else "YES",
             f"{second:.1f}"]]
    print(table(["submit", "new objects under uploads/", "bytes sent", "end to end s"], rows))
    once = len(new_first) == 1 and not new_second and unchanged
    print(f"\ngoal: one upload for two submits -> {'met' if once else 'NOT met'} "
          f"({new_first[0] if new_first else 'no upload seen'})")
    print()
    print("## What one job puts through Redis (sent to a queue no worker consumes, then taken back)")
    print()
    rows = [[w.label, f"{w.kwargs_bytes:,}", f"{w.message_bytes:,}", f"{w.key_memory_bytes:,}",
             f"{w.used_memory_delta:,}", f"{w.publish_ms:.1f}", f"{w.round_trip_ms:.1f}"] for w in weights]
    print(table(["message", "kwargs bytes", "in Redis bytes", "MEMORY USAGE", "used_memory delta", "publish ms",
                 "publish -> received ms"], rows))
    uri, heavy = weights
    larger, slower = heavy.message_bytes / uri.message_bytes, heavy.round_trip_ms / max(uri.round_trip_ms, 1e-6)
    print(f"\ngoal: URI message < 2 KB -> {'met' if uri.message_bytes < 2048 else 'NOT met'} "
          f"({uri.message_bytes:,} B in Redis; the bytes-in-message one is {larger:,.0f}x larger and "
          f"{slower:,.0f}x slower to publish and receive)")
    print(f"URI kwargs the client sent: {uri_kwargs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
