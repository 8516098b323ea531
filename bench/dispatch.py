"""Cost of echonote's submit path over a raw ``send_task(...).get()`` round trip.

The submit path = quota check + job row + send by name (+ the worker keeping
the row in step). Both are measured interleaved, in one run, against the same
private Redis and worker, on the no-op ``echonote.ping`` task.

    .venv/bin/python bench/dispatch.py [--n 300]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _stack import private_stack_env, summary, table  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=300, help="round trips per variant")
    parser.add_argument("--warmup", type=int, default=20)
    args = parser.parse_args()
    private_stack_env()

    from echonote import client, db, names
    from echonote.celery_app import app
    from echonote.ops.stack import Stack

    stack = Stack(detach=False).up(("redis", "worker"))
    db.set_quota("bench", 1e12)
    raw, submit_only, submit_rt = [], [], []
    try:
        for i in range(args.warmup + args.n):
            t0 = time.perf_counter()
            app.send_task(names.PING).get(timeout=10)
            t1 = time.perf_counter()
            job = client.submit(names.PING, user="bench", audio_seconds=1)
            t2 = time.perf_counter()
            app.AsyncResult(job.task_id).get(timeout=10)
            t3 = time.perf_counter()
            if i >= args.warmup:
                raw.append((t1 - t0) * 1e3)
                submit_only.append((t2 - t1) * 1e3)
                submit_rt.append((t3 - t1) * 1e3)
    finally:
        stack.down()

    rows = []
    base = summary(raw)
    for label, values in [("raw send_task(...).get()", raw), ("submit() only (quota + row + send)", submit_only),
                          ("submit() + get() (full path)", submit_rt)]:
        med, p95, mean = summary(values)
        rows.append([label, f"{med:.2f}", f"{p95:.2f}", f"{mean:.2f}", f"{med - base[0]:+.2f}"])
    print(f"dispatch: {args.n} no-op round trips each, interleaved; database {db.engine().url.drivername}")
    print(table(["path", "median ms", "p95 ms", "mean ms", "median vs raw ms"], rows))
    overhead = summary(submit_rt)[0] - base[0]
    verdict = "met" if overhead <= 5 else "NOT met"
    print(f"\ngoal: submit path <= +5 ms median over raw -> {verdict} ({overhead:+.2f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
