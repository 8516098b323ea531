"""One beat at a time: a schedule that sends, and writes its file, only while it holds a lock in Redis.

Start a second beat by mistake (two terminals, a compose scale, a restart
overlapping the old process) and a plain beat would send every task twice.
With ``beat_scheduler = "echonote.beat_lock:LockedScheduler"`` each beat
tries to take ``echonote:beat-lock`` (SET NX with expiry; ``ECHONOTE_BEAT_LOCK_KEY``) on every tick; the
holder renews it and sends, the others stand by. A crashed holder's lock
expires after ``ECHONOTE_BEAT_LOCK_SECONDS`` and a standby takes over.

The schedule file follows the lock too. Celery's ``PersistentScheduler``
keeps a shelve open from start to exit and writes it at start, every few
minutes and at exit; two beats on one file then write one dbm from two
processes, and the standby dies with ``UnpicklingError`` when it takes over.
Here the schedule lives in memory: a beat reads the file (each entry's last
run) when it takes the lock and replaces it whole (temporary file + rename)
when it syncs; a standby neither reads nor writes it.

Light: redis-py and Celery only; beat stays small.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
import uuid
from pathlib import Path

from celery.beat import Scheduler

from echonote import config
from echonote.private_files import write_private

logger = logging.getLogger("echonote.beat_lock")

LOCK_KEY = "echonote:beat-lock"  # the default of ECHONOTE_BEAT_LOCK_KEY: the stack's beat

# Take the lock if it is free, or renew it if we hold it; 1 = ours, 0 = someone else's.
_ACQUIRE_OR_RENEW = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"

ACQUIRED = "beat lock acquired"
STANDING_BY = "stands by"
FILE_VERSION = 1


def announced_role(log_text: str) -> bool:
    """True once a beat's log says it holds the lock or stands by (it is past start-up)."""
    return ACQUIRED in log_text or STANDING_BY in log_text


class LockedScheduler(Scheduler):
    """A scheduler that sends due tasks, and writes its schedule file, only while holding the Redis beat lock."""

    def __init__(self, *args, **kwargs):
        self.schedule_filename = kwargs.pop("schedule_filename", None)
        cfg = config.load()
        self.lock_seconds = float(cfg.beat_lock_seconds)
        self.lock_key = cfg.beat_lock_key
        self.token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.holding = False
        self._announced_standby = False
        self._redis = None
        super().__init__(*args, **kwargs)
        self.schedule_filename = self.schedule_filename or self.app.conf.beat_schedule_filename
        self.max_interval = min(self.max_interval, self.lock_seconds / 3)  # renew well before expiry
        self.sync_every = min(self.sync_every, self.lock_seconds)  # a successor finds recent last runs

    @property
    def redis(self):
        if self._redis is None:
            import redis

            url = self.app.conf.broker_url
            if not url.startswith(("redis://", "rediss://")):
                raise RuntimeError(f"the beat lock needs a Redis broker, not {url.split(':', 1)[0]}")
            self._redis = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        return self._redis

    def hold_lock(self) -> bool:
        """Take or renew the lock; log each change of role. Broker errors mean standby."""
        try:
            ours = bool(self.redis.eval(_ACQUIRE_OR_RENEW, 1, self.lock_key, self.token, int(self.lock_seconds * 1000)))
        except Exception as exc:  # broker down: never send blind, try again next tick
            logger.warning("beat lock: cannot reach Redis (%s); not sending until it is back", exc)
            ours = False
        was_holding, self.holding = self.holding, ours
        if ours and not was_holding:
            logger.info("%s by %s (%s): this beat sends the schedule", ACQUIRED, self.token, self.lock_key)
            self.load_last_runs()
        elif not ours and was_holding:
            logger.warning("beat lock lost by %s: standing by", self.token)
        elif not ours and not self._announced_standby:
            logger.info("beat lock held by another beat: %s %s (takes over within %.0f s if it stops)",
                        self.token, STANDING_BY, self.lock_seconds)
            self._announced_standby = True
        return ours

    def tick(self, *args, **kwargs):
        if not self.hold_lock():
            return self.lock_seconds / 3
        return min(super().tick(*args, **kwargs), self.lock_seconds / 3)

    # ----- the schedule file: read on taking the lock, written only while holding it
    def load_last_runs(self) -> None:
        """Each entry's last run and run count from the file the previous holder wrote."""
        path = Path(self.schedule_filename)
        try:
            stored = json.loads(path.read_text())["entries"]
        except FileNotFoundError:
            stored = {}
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:  # an older dbm file, or damage
            logger.warning("beat schedule %s unreadable (%s): starting from the configured schedule", path, exc)
            stored = {}
        for name, entry in self.schedule.items():
            if isinstance(stored.get(name), dict):
                entry.last_run_at = dt.datetime.fromisoformat(stored[name]["last_run_at"])
                entry.total_run_count = int(stored[name].get("total_run_count", 0))
        self._heap = None  # rebuilt from the loaded times on the next tick
        self.sync()

    def sync(self) -> None:
        if not self.holding:
            return  # a standby never writes: the holder owns the file
        path = Path(self.schedule_filename)
        entries = {
            name: {"task": e.task, "last_run_at": e.last_run_at.isoformat(), "total_run_count": e.total_run_count}
            for name, e in self.schedule.items()
        }
        # Replaced whole (temporary file + rename): a reader sees the old file or the new one, never half of one.
        write_private(path, json.dumps({"version": FILE_VERSION, "holder": self.token, "entries": entries}, indent=1))

    def close(self):
        try:
            super().close()  # syncs (if holding) and releases the broker connection
        finally:
            if self.holding:
                try:
                    self.redis.eval(_RELEASE, 1, self.lock_key, self.token)
                    logger.info("beat lock released by %s", self.token)
                except Exception:
                    pass  # it expires on its own
                self.holding = False

    @property
    def info(self):
        return f"    . db -> {self.schedule_filename} (written by the beat holding the lock)"
