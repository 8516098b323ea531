"""One beat at a time: a schedule that sends only while it holds a lock in Redis.

Start a second beat by mistake (two terminals, a compose scale, a restart
overlapping the old process) and a plain beat would send every task twice.
With ``beat_scheduler = "echonote.beat_lock:LockedScheduler"`` each beat
tries to take ``echonote:beat-lock`` (SET NX with expiry) on every tick; the
holder renews it and sends, the others stand by. A crashed holder's lock
expires after ``ECHONOTE_BEAT_LOCK_SECONDS`` and a standby takes over.

Light: redis-py and Celery only; beat stays small.
"""
from __future__ import annotations

import logging
import os
import socket
import uuid

from celery.beat import PersistentScheduler

from echonote import config

logger = logging.getLogger("echonote.beat_lock")

LOCK_KEY = "echonote:beat-lock"

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


class LockedScheduler(PersistentScheduler):
    """PersistentScheduler that sends due tasks only while holding the Redis beat lock."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.lock_seconds = float(config.load().beat_lock_seconds)
        self.max_interval = min(self.max_interval, self.lock_seconds / 3)  # renew well before expiry
        self.token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.holding = False
        self._redis = None

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
            ours = bool(self.redis.eval(_ACQUIRE_OR_RENEW, 1, LOCK_KEY, self.token, int(self.lock_seconds * 1000)))
        except Exception as exc:  # broker down: never send blind, try again next tick
            logger.warning("beat lock: cannot reach Redis (%s); not sending until it is back", exc)
            ours = False
        if ours and not self.holding:
            logger.info("beat lock acquired by %s: this beat sends the schedule", self.token)
        elif not ours and self.holding:
            logger.warning("beat lock lost by %s: standing by", self.token)
        elif not ours and not getattr(self, "_announced_standby", False):
            logger.info("beat lock held by another beat: %s stands by (takes over within %.0f s if it stops)",
                        self.token, self.lock_seconds)
            self._announced_standby = True
        self.holding = ours
        return ours

    def tick(self, *args, **kwargs):
        if not self.hold_lock():
            return self.lock_seconds / 3
        return min(super().tick(*args, **kwargs), self.lock_seconds / 3)

    def close(self):
        if self.holding:
            try:
                self.redis.eval(_RELEASE, 1, LOCK_KEY, self.token)
                logger.info("beat lock released by %s", self.token)
            except Exception:
                pass  # it expires on its own
        super().close()
