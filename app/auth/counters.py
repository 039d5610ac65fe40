"""Fixed-window counters shared by every web process through Redis, without a round trip per request.

A request is decided from what this process knows: the window's total as Redis last reported it
plus the hits this process has not sent yet. A background thread sends those hits every
SYNC_SECONDS in one Redis call (one Lua script: INCRBY per key, EXPIRE on a new key) and reads the
totals back. A request asks Redis at once (sending its key's unsent hits) only when the local
figures would refuse it or this process already holds its share of the window unsent
(amount / SHARE_DIVISOR); a window Redis confirmed full is refused locally until it ends, so a
flood costs no round trips either. Counters only grow within a window, so a confirmed refusal is
exact, one process alone counts exactly, and N processes admit at most
amount × (1 + (N - 1) / SHARE_DIVISOR) per window.

Redis away: every request is admitted (fail open), nothing is counted, and Redis is tried again
after a back-off of 1 s doubling to 32 s.
"""
import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import redis

log = logging.getLogger(__name__)

SYNC_SECONDS = 0.05
# A process admits at most amount/SHARE_DIVISOR hits of a window on its own figures before it asks
# Redis, so N processes together admit at most amount × (1 + (N - 1) / SHARE_DIVISOR).
SHARE_DIVISOR = 16
BACKOFF_FIRST, BACKOFF_MOST = 1.0, 32.0
# INCRBY each key by its delta; a key that was absent (its total equals its delta) gets its expiry.
SYNC_SCRIPT = """
local totals = {}
for i, key in ipairs(KEYS) do
  local delta = tonumber(ARGV[2 * i - 1])
  local total = redis.call('INCRBY', key, delta)
  if total == delta then redis.call('EXPIRE', key, ARGV[2 * i]) end
  totals[i] = total
end
return totals
"""


@dataclass(frozen=True)
class Rate:
    """One limit: `amount` per `seconds` (a fixed window aligned to the epoch)."""
    amount: int
    seconds: int


@dataclass(frozen=True)
class Verdict:
    """A refusal: the limit breached and the epoch second its window ends."""
    rate: Rate
    reset_at: float


class _Window:
    __slots__ = ("amount", "share", "ends_at", "known", "unsent")

    def __init__(self, amount: int, ends_at: float):
        self.amount, self.ends_at, self.known, self.unsent = amount, ends_at, 0, 0
        self.share = max(1, math.ceil(amount / SHARE_DIVISOR))


class Counters:
    """Counts hits per (scope, key, rate window) locally and keeps Redis, the shared total, in sync."""

    def __init__(self, client: redis.Redis, prefix: str = "xt:rl", sync_seconds: float | None = None,
                 now: Callable[[], float] = time.time):
        self._redis = client
        self._script = client.register_script(SYNC_SCRIPT)
        self._prefix, self._now = prefix, now
        self._sync_seconds = SYNC_SECONDS if sync_seconds is None else sync_seconds
        self._windows: dict[str, _Window] = {}
        self._lock = threading.Lock()
        self._away_until = 0.0
        self._backoff = BACKOFF_FIRST
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # -- the three questions a request asks -------------------------------------------------
    def hit(self, scope: str, key: str, rates: Sequence[Rate]) -> Verdict | None:
        """Count one hit against every rate; the refusal when one of them is full (nothing counted then)."""
        return self._decide(scope, key, rates, 1)

    def test(self, scope: str, key: str, rates: Sequence[Rate]) -> Verdict | None:
        """The refusal when a rate is already full, counting nothing (a limit deducted afterwards)."""
        return self._decide(scope, key, rates, 0)

    def add(self, scope: str, key: str, rates: Sequence[Rate]) -> None:
        """Count one hit without asking (e.g. a 401 answered under the auth-failure limit)."""
        if self._away():
            return
        now = self._now()
        with self._lock:
            for _name, _rate, window in self._windows_of(scope, key, rates, now):
                window.unsent += 1
        self._start()

    # -- internals --------------------------------------------------------------------------
    def _decide(self, scope: str, key: str, rates: Sequence[Rate], cost: int) -> Verdict | None:
        """1. Refuse at once on a window Redis confirmed full. 2. Admit when the local figures allow.
        3. Otherwise send the doubtful windows' unsent hits, read their totals and decide on those."""
        if self._away():
            return None
        now = self._now()
        with self._lock:
            found = self._windows_of(scope, key, rates, now)
            for _name, rate, window in found:
                if window.known >= window.amount:
                    return Verdict(rate, window.ends_at)
            batch = [(name, window, window.unsent) for name, _rate, window in found
                     if window.known + window.unsent + 1 > window.amount or window.unsent + 1 > window.share]
            if not batch:
                for _name, _rate, window in found:
                    window.unsent += cost
            else:
                for _name, window, _delta in batch:
                    window.unsent = 0
        if not batch:
            self._start()
            return None
        if not self._send(batch, now):
            return None  # Redis away: fail open
        with self._lock:
            for name, rate, window in found:
                self._windows.setdefault(name, window)  # the sync thread may have let it go meanwhile
                if window.known >= window.amount:
                    return Verdict(rate, window.ends_at)
            for _name, _rate, window in found:
                window.unsent += cost
        self._start()
        return None

    def _windows_of(self, scope: str, key: str, rates: Sequence[Rate], now: float) -> list:
        found = []
        for rate in rates:
            start = math.floor(now / rate.seconds) * rate.seconds
            name = f"{self._prefix}:{scope}:{rate.amount}/{rate.seconds}:{start}:{key}"
            window = self._windows.get(name)
            if window is None:
                window = self._windows[name] = _Window(rate.amount, start + rate.seconds)
            found.append((name, rate, window))
        return found

    def _send(self, batch: list, now: float) -> bool:
        """Add each window's delta in Redis and learn its total; False (and the back-off) when Redis is away."""
        if not batch:
            return True
        keys, args = [], []
        for name, window, delta in batch:
            keys.append(name)
            args += [delta, max(1, math.ceil(window.ends_at - now) + 1)]
        try:
            totals = self._script(keys=keys, args=args)
        except (redis.RedisError, OSError) as exc:
            self._go_away(exc)
            return False
        self._backoff = BACKOFF_FIRST
        with self._lock:
            for (_name, window, _delta), total in zip(batch, totals):
                window.known = max(window.known, int(total))
        return True

    def _away(self) -> bool:
        return self._away_until > time.monotonic()

    def _go_away(self, exc: Exception) -> None:
        if not self._away():
            log.warning("rate limit counters unreachable (%s); limits fail open for %.0f s", exc, self._backoff)
        self._away_until = time.monotonic() + self._backoff
        self._backoff = min(BACKOFF_MOST, self._backoff * 2)
        with self._lock:
            self._windows.clear()

    def sync(self) -> None:
        """Send every unsent hit now and forget windows that ended or are far from full."""
        now = self._now()
        with self._lock:
            batch = []
            for name, window in list(self._windows.items()):
                if window.ends_at <= now:
                    del self._windows[name]
                elif window.unsent:
                    batch.append((name, window, window.unsent))
                    window.unsent = 0
                elif window.known * 2 < window.amount:
                    # Far from full: forget it (memory stays flat under many one-off keys); the next
                    # hit starts from zero locally and the sync after it learns the total again.
                    del self._windows[name]
        if batch and not self._away():
            self._send(batch, now)

    def _start(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="xt-rate-limit-sync", daemon=True)
                    self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._sync_seconds):
            try:
                self.sync()
            except Exception:  # noqa: BLE001 — the sync thread must outlive any one failure
                log.exception("rate limit sync failed")

    def close(self) -> None:
        """Send what is unsent and stop the sync thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1)
        try:
            self.sync()
        except Exception:  # noqa: BLE001 — closing never raises
            pass
        self._redis.close()
