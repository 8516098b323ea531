"""Fault drills on a real stack: kill workers, restart the broker, run two beats, flood it.

Each drill does the damage, waits for the system to recover, and returns an
:class:`Outcome` with figures (submitted / completed / lost / duplicated,
deliveries, time to recover). ``tests/test_reliability.py`` asserts on them;
``bench/chaos.py`` prints them as the table in ``docs/reliability.md``.
Drills use their own queue and workers, so a stack's regular worker is never
involved.
"""
from __future__ import annotations

import os
import re
import signal
import statistics
import threading
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path

from echonote import client, config, db, names
from echonote.ops.stack import Stack
from echonote.ops.waiting import wait_until
from echonote.results import samples

QUEUE = "chaos"
WORKERS = ("chaos-a", "chaos-b")
SENT_LINE = re.compile(r"Sending due task reset-daily-quotas")


@dataclass
class Outcome:
    scenario: str
    action: str
    expected: str
    observed: str = ""
    submitted: int = 0
    completed: int = 0
    lost: int = 0
    duplicated: int = 0
    deliveries: int = 0
    recover_s: float | None = None
    figures: dict = field(default_factory=dict)
    ok: bool = False


def short_clip(seconds: float = 8.0) -> Path:
    """The first ``seconds`` of pyannote's sample, written next to it (stdlib only)."""
    source = samples.ensure_pyannote_sample()["wav"]
    target = source.with_name(f"{source.stem}_{seconds:g}s.wav")
    if not target.exists():
        with wave.open(str(source), "rb") as src, wave.open(str(target), "wb") as dst:
            dst.setparams(src.getparams())
            dst.writeframes(src.readframes(int(seconds * src.getframerate())))
    return target


def rows(job_ids: list[str]) -> list[db.Job]:
    with db.session() as s:
        return [s.get(db.Job, job_id) for job_id in job_ids]


def wait_finished(job_ids: list[str], timeout: float) -> list[db.Job]:
    def finished():
        current = rows(job_ids)
        return current if all(j.status in db.FINISHED_STATES for j in current) else None

    return wait_until(finished, timeout, 0.5, f"all {len(job_ids)} jobs finished")


def start_drill_workers(stack: Stack, concurrency: int = 1) -> None:
    for name in WORKERS:
        stack.start_worker(name, queues=[QUEUE], concurrency=concurrency)


def stop_drill_workers(stack: Stack) -> None:
    for name in WORKERS:
        stack.stop(name)


def submit_clips(n: int, clip: Path) -> list[str]:
    db.set_quota("chaos", 1e9)
    staged = client.stage_audio(clip, user="chaos")  # measured once: every job is charged the clip's length
    return [client.submit_diarization(staged, user="chaos", queue=QUEUE).id for _ in range(n)]


def job_running_on(worker: str, job_ids: list[str], timeout: float = 300) -> db.Job:
    """Wait until one of ``job_ids`` runs on ``worker``; return its row (``worker`` holds node:main:pool pids)."""
    return wait_until(lambda: next((j for j in rows(job_ids) if j.status == db.STARTED and j.worker
                                    and j.worker.startswith(f"{worker}@")), None), timeout, 0.1,
                      f"a job running on {worker}")


def tally(outcome: Outcome, final: list[db.Job], results_dir: Path) -> Outcome:
    outcome.submitted = len(final)
    outcome.completed = sum(j.status == db.SUCCEEDED for j in final)
    outcome.lost = sum(j.status != db.SUCCEEDED for j in final)
    outcome.deliveries = sum(j.attempts for j in final)
    result_files = [p for j in final for p in (results_dir / j.task_id).glob("*.json")]
    outcome.figures["result_files"] = len(result_files)
    return outcome


def worker_killed(stack: Stack, n: int = 20, timeout: float = 1200) -> Outcome:
    """kill -9 the pool process of one of two workers while it runs a diarization job."""
    out = Outcome("worker killed mid-job", f"{n} diarization jobs over 2 workers; kill -9 the pool process "
                  "running a job on one of them", "all jobs finish once; the killed job is redelivered and retried")
    start_drill_workers(stack)
    try:
        job_ids = submit_clips(n, short_clip())
        victim = job_running_on(WORKERS[0], job_ids)
        pid = int(victim.worker.rsplit(":", 1)[1])
        killed_at = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: (r := rows([victim.id])[0]).attempts >= 2 or r.status in db.FINISHED_STATES, 300, 0.2,
                   "the killed job running again")
        out.recover_s = round(time.monotonic() - killed_at, 2)
        final = wait_finished(job_ids, timeout)
        alive = stack.worker_ping(WORKERS[0], timeout=2)
    finally:
        stop_drill_workers(stack)
    tally(out, final, config.load().path("results_dir"))
    killed = next(j for j in final if j.id == victim.id)
    out.duplicated = sum(max(0, j.attempts - 1) for j in final if j.id != victim.id)
    out.figures.update(killed_job_attempts=killed.attempts, worker_alive_after=alive)
    out.observed = (f"{out.completed}/{n} succeeded; killed job ran {killed.attempts}x; "
                    f"{out.figures['result_files']} result files; worker {'alive' if alive else 'DEAD'}")
    out.ok = (out.completed == n and killed.attempts == 2 and out.duplicated == 0 and alive
              and out.figures["result_files"] == n)
    return out


def broker_restart(stack: Stack, n: int = 10, timeout: float = 900) -> Outcome:
    """Restart the managed Redis (append-only file on) while jobs are queued and running."""
    out = Outcome("broker restart mid-batch", f"{n} jobs queued and running; stop Redis (SIGTERM) and start it again",
                  "all jobs finish, workers and beat reconnect by themselves, nothing lost")
    start_drill_workers(stack)
    try:
        job_ids = submit_clips(n, short_clip())
        wait_until(lambda: any(j.status == db.STARTED for j in rows(job_ids)), 300, 0.1, "a running job")
        down_at = time.monotonic()
        stack.stop("redis")
        time.sleep(2)
        stack.start_redis()
        back_at = time.monotonic()
        done_before = sum(j.status == db.SUCCEEDED for j in rows(job_ids))
        wait_until(lambda: sum(j.status == db.SUCCEEDED for j in rows(job_ids)) > done_before, 300, 0.2,
                   "a job completing after the restart")
        out.recover_s = round(time.monotonic() - back_at, 2)
        final = wait_finished(job_ids, timeout)
        reconnected = all(stack.worker_ping(w, timeout=3) for w in WORKERS)
        left = unacked_messages()
    finally:
        stop_drill_workers(stack)
    tally(out, final, config.load().path("results_dir"))
    out.duplicated = sum(max(0, j.attempts - 1) for j in final)
    out.figures.update(outage_s=round(back_at - down_at, 1), workers_reconnected=reconnected, unacked_left=left)
    out.observed = (f"{out.completed}/{n} succeeded, {out.duplicated} re-run(s) after the outage; "
                    f"workers {'reconnected' if reconnected else 'NOT reconnected'}; {left} message(s) left unacked")
    out.ok = out.completed == n and reconnected and left == 0
    return out


def unacked_messages() -> int:
    """Messages Redis still holds as delivered-but-unacknowledged (each would run again later)."""
    import redis

    r = redis.Redis.from_url(config.load().effective_broker_url)
    try:
        return int(r.hlen("unacked"))
    finally:
        r.close()


def beat_sends(stack: Stack, role: str) -> int:
    return len(SENT_LINE.findall(stack.log_since_start(role)))


def two_beats(stack: Stack, window: float = 12.0) -> Outcome:
    """Two beats on one broker with a 1-second schedule; then kill -9 the one that sends.

    The stack's config must have ECHONOTE_WORKSHOP_SCHEDULE_SECONDS=1 and a short
    ECHONOTE_BEAT_LOCK_SECONDS in the environment the beats inherit.
    """
    lock_s = config.load().beat_lock_seconds
    out = Outcome("two beats", f"start 2 beats with a 1 s schedule for {window:.0f} s; kill -9 the lock holder",
                  f"one beat sends, about once a second; the standby takes over within {lock_s} s")
    for name in ("beat-a", "beat-b"):
        stack.start_beat(name)
    try:
        time.sleep(window)
        sends = {name: beat_sends(stack, name) for name in ("beat-a", "beat-b")}
        holder = max(sends, key=sends.get)
        standby = "beat-b" if holder == "beat-a" else "beat-a"
        before = beat_sends(stack, standby)
        stack.process(holder).send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        wait_until(lambda: beat_sends(stack, standby) > before, lock_s + 30, 0.2, "the standby beat sending")
        out.recover_s = round(time.monotonic() - killed_at, 2)
    finally:
        for name in ("beat-a", "beat-b"):
            stack.stop(name, timeout=5)
    total = sum(sends.values())
    out.submitted = total
    out.figures.update(window_s=window, sends_per_beat=sends, takeover_s=out.recover_s)
    out.duplicated = max(0, total - int(window) - 2)  # sends beyond one per second (+ slack for edges)
    out.observed = f"sends in {window:.0f} s: {sends}; standby took over after {out.recover_s} s"
    out.ok = min(sends.values()) == 0 and 0 < total <= window + 2 and out.recover_s <= lock_s + 5
    return out


def load(stack: Stack, jobs: int = 200, clients: int = 4) -> Outcome:
    """``jobs`` short (no-op) jobs through submit() from ``clients`` threads, 2 workers."""
    out = Outcome("load", f"{jobs} short jobs from {clients} concurrent clients, 2 workers",
                  "all complete; throughput and latency reported")
    start_drill_workers(stack)
    db.set_quota("chaos", 1e9)
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def one_client(count: int) -> None:
        for _ in range(count):
            started = time.perf_counter()
            try:
                job = client.submit(names.PING, user="chaos", queue=QUEUE)
                client.celery_app().AsyncResult(job.task_id).get(timeout=120)
                with lock:
                    latencies.append(time.perf_counter() - started)
            except Exception as exc:  # counted and reported, not raised
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}")

    try:
        began = time.perf_counter()
        threads = [threading.Thread(target=one_client, args=(jobs // clients,)) for _ in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - began
    finally:
        stop_drill_workers(stack)
    ordered = sorted(latencies)
    out.submitted, out.completed, out.lost = jobs, len(latencies), jobs - len(latencies)
    out.figures.update(
        throughput_per_s=round(len(latencies) / elapsed, 1),
        p50_ms=round(1000 * statistics.median(ordered), 1) if ordered else None,
        p95_ms=round(1000 * ordered[int(0.95 * (len(ordered) - 1))], 1) if ordered else None,
        errors=errors[:3],
    )
    out.observed = (f"{out.completed}/{jobs} completed; {out.figures['throughput_per_s']} jobs/s; "
                    f"p50 {out.figures['p50_ms']} ms, p95 {out.figures['p95_ms']} ms")
    out.ok = out.completed == jobs
    return out


def broker_down_at_submit() -> Outcome:
    """Submit while nothing listens on the broker's port."""
    from echonote.ops.stack import free_port

    out = Outcome("broker down at submit", "submit a job with ECHONOTE_BROKER_URL pointing at a closed port",
                  "a clear error within seconds; nothing charged and no job row left queued "
                  "(the broker is checked first)")
    saved = os.environ.get("ECHONOTE_BROKER_URL")
    os.environ["ECHONOTE_BROKER_URL"] = f"redis://127.0.0.1:{free_port()}/0"
    from celery import Celery

    dead = Celery("dead", broker=config.load().effective_broker_url, backend=config.load().effective_result_backend)
    dead.conf.update(broker_connection_timeout=1, redis_socket_connect_timeout=1)
    from echonote.client import jobs as client_jobs  # where submit() looks the app up

    original = client_jobs.celery_app
    client_jobs.celery_app = lambda: dead
    db.set_quota("chaos", 1e9)
    used_before = next(u.used_seconds_today for u in db.list_users() if u.name == "chaos")
    queued_before = len(db.find_jobs(user="chaos", status=db.QUEUED, limit=10_000))
    started = time.monotonic()
    try:
        client.submit(names.PING, user="chaos", audio_seconds=30)
        error = None
    except client.BrokerUnavailable as exc:
        error = str(exc)
    finally:
        client_jobs.celery_app = original
        if saved is None:
            os.environ.pop("ECHONOTE_BROKER_URL", None)
        else:
            os.environ["ECHONOTE_BROKER_URL"] = saved
    out.recover_s = round(time.monotonic() - started, 2)
    out.submitted, out.lost = 1, 0
    left_queued = len(db.find_jobs(user="chaos", status=db.QUEUED, limit=10_000)) - queued_before
    uncharged = next(u.used_seconds_today for u in db.list_users() if u.name == "chaos") == used_before
    out.figures.update(error=error, rows_left_queued=left_queued, quota_unchanged=uncharged)
    out.observed = (
        f"failed in {out.recover_s} s: {error[:60] if error else 'NO ERROR'}...; "
        f"{left_queued} row(s) left queued; quota {'unchanged' if uncharged else 'CHARGED'}"
    )
    out.ok = error is not None and left_queued == 0 and uncharged and out.recover_s < 10
    return out


def time_limits(stack: Stack) -> Outcome:
    """A job past its soft limit, and one that ignores it until the hard limit."""
    import psutil

    out = Outcome(
        "time limits",
        "ping(sleep=10) with soft 1 s; ping(sleep=20, ignoring the soft signal) with hard 3 s",
        "soft: clean failure with the setting to raise; hard: pool process replaced, worker keeps serving",
    )
    verdicts = {}
    for label, kwargs, limits in (
        ("soft", {"sleep": 10}, {"soft_time_limit": 1, "time_limit": 5}),
        ("hard", {"sleep": 20, "stubborn": True}, {"soft_time_limit": 1, "time_limit": 3}),
    ):
        job = client.submit(names.PING, kwargs, user="chaos", **limits)
        try:
            client.wait(job.task_id, timeout=60)
            verdicts[label] = ("no error", None)
        except Exception as exc:  # the expected outcome
            verdicts[label] = (type(exc).__name__, exc)
        row = wait_until(
            lambda job=job: (r := rows([job.id])[0]).status == db.FAILED and r.error and r,
            30,
            0.2,
            f"the {label}-limit job's row marked failed",
        )
        pool_pid = int(row.worker.rsplit(":", 1)[1])
        try:  # the replaced pool process may take a moment to be reaped on a busy machine
            gone = bool(wait_until(lambda pool_pid=pool_pid: not psutil.pid_exists(pool_pid), 15, 0.2,
                                   "pool process gone"))
        except TimeoutError:
            gone = False
        row = rows([job.id])[0]
        out.figures[f"{label}_error"] = row.error
        out.figures[f"{label}_attempts"] = row.attempts
        out.figures[f"{label}_pid_gone"] = gone
    serving = client.wait(client.submit(names.PING, user="chaos").task_id, timeout=60)
    out.figures.update(soft=verdicts["soft"][0], hard=verdicts["hard"][0], next_job_pid=serving["pid"])
    out.submitted = out.deliveries = 2
    out.observed = (
        f"soft -> {verdicts['soft'][0]}; hard -> {verdicts['hard'][0]}, pool process replaced: "
        f"{out.figures['hard_pid_gone']}; next job served by pid {serving['pid']}"
    )
    out.ok = (
        verdicts["soft"][0] == "TimeLimitReached"
        and verdicts["hard"][0] == "TimeLimitExceeded"
        and out.figures["hard_pid_gone"]
        and out.figures["soft_attempts"] == out.figures["hard_attempts"] == 1
    )
    return out


def worker_node_killed(stack: Stack, n: int = 8, timeout: float = 900) -> Outcome:
    """kill -9 a whole worker (main process and pool) mid-job; the janitor requeues its job."""
    out = Outcome(
        "worker node killed",
        f"{n} diarization jobs over 2 workers; kill -9 one worker's main process "
        "and pool; the janitor (beat, every minute) runs",
        "the stranded job is requeued and finishes; nothing waits for Redis's 2-hour visibility timeout",
    )
    start_drill_workers(stack)
    try:
        job_ids = submit_clips(n, short_clip())
        victim = job_running_on(WORKERS[0], job_ids)
        main_pid = int(victim.worker.split(":")[1])
        os.killpg(main_pid, signal.SIGKILL)  # the whole role, as a lost container would go
        killed_at = time.monotonic()
        time.sleep(21)  # the janitor leaves jobs younger than 20 s alone
        report = client.wait(client.send_by_name(names.REQUEUE_STRANDED, queue=QUEUE).id, timeout=300)
        wait_until(
            lambda: rows([victim.id])[0].attempts >= 2 or rows([victim.id])[0].status == db.SUCCEEDED,
            300,
            0.2,
            "the stranded job running again",
        )
        out.recover_s = round(time.monotonic() - killed_at, 2)
        final = wait_finished(job_ids, timeout)
    finally:
        stop_drill_workers(stack)
    tally(out, final, config.load().path("results_dir"))
    out.duplicated = sum(max(0, j.attempts - 1) for j in final if j.id != victim.id)
    out.figures.update(janitor=report, victim_attempts=next(j.attempts for j in final if j.id == victim.id))
    out.observed = (
        f"{out.completed}/{n} succeeded; janitor requeued {len(report['requeued'])}; "
        f"victim ran {out.figures['victim_attempts']}x"
    )
    out.ok = out.completed == n and victim.task_id in report["requeued"] and out.duplicated == 0
    return out
