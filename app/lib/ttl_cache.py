"""A small per-process cache with expiry: the landing's links and hosts, the Telegram webhook's bots."""
import threading
import time
from typing import Any


class TtlCache:
    """A per-process map whose entries expire after `ttl` seconds (0 disables it); emptied when full."""

    def __init__(self, ttl: float, limit: int = 10_000):
        self.ttl = ttl
        self.limit = limit
        self._entries: dict[Any, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        """The cached value, or None when absent or expired."""
        hit = self._entries.get(key)
        if hit is None or hit[0] <= time.monotonic():
            return None
        return hit[1]

    def put(self, key: Any, value: Any) -> None:
        """Remember `value` for `ttl` seconds."""
        if self.ttl <= 0:
            return
        with self._lock:
            if len(self._entries) >= self.limit:
                self._entries.clear()
            self._entries[key] = (time.monotonic() + self.ttl, value)

    def forget(self, key: Any) -> None:
        """Drop `key`, so the next lookup asks the database."""
        with self._lock:
            self._entries.pop(key, None)
