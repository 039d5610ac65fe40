"""Redis: the client, channel and queue names, and fail-soft publishing.

Redis carries signals only (live feed, job wake-ups). Postgres holds the truth, so a publish
that fails is logged and dropped; after a failure publishing pauses briefly instead of paying a
connect timeout on every request while Redis is away.
"""
import json
import logging
import queue
import time

import redis

from app.lib.background import BackgroundQueue

log = logging.getLogger(__name__)

FEED_CHANNEL = "xt:space:{space_id}:feed"
# Stored received-log rows on their way to listen mode (app/received/).
RECEIVED_CHANNEL = "xt:space:{space_id}:received"
# Set with a TTL by each open listen-mode stream of the space.
LISTENING_KEY = "xt:space:{space_id}:received:listening"

RETRY_AFTER_FAILURE_SECONDS = 1.0


def create_redis(url: str) -> redis.Redis:
    """A Redis client with short timeouts: a slow or absent Redis must not stall ingest."""
    return redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=1.0, health_check_interval=30)


def feed_channel(space_id: int) -> str:
    """The per-space live feed channel."""
    return FEED_CHANNEL.format(space_id=space_id)


def received_channel(space_id: int) -> str:
    """The per-space channel that carries stored received-log rows to listen mode."""
    return RECEIVED_CHANNEL.format(space_id=space_id)


def listening_key(space_id: int) -> str:
    """The key that says a listen-mode stream of the space is open somewhere."""
    return LISTENING_KEY.format(space_id=space_id)


class Publisher(BackgroundQueue):
    """Publishes JSON messages from a background thread, pipelined, swallowing Redis failures.

    `publish()` only enqueues, so a request never waits for Redis; messages queued while Redis
    is unreachable are dropped after one failed attempt (the feed is a signal; Postgres holds
    every event) and publishing pauses briefly before it tries again.
    """

    QUEUE_LIMIT = 10_000
    BATCH_MAX = 500

    thread_name = "feed-publisher"

    def __init__(self, client: redis.Redis):
        super().__init__(self.QUEUE_LIMIT)
        self.client = client
        self._paused_until = 0.0

    def publish(self, channel: str, message: dict) -> bool:
        """Queue one message for publishing; False when it was dropped (queue full or Redis paused)."""
        if time.monotonic() < self._paused_until:
            return False
        return self.offer((channel, json.dumps(message, separators=(",", ":"), default=str)))

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < self.BATCH_MAX:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                if time.monotonic() >= self._paused_until:
                    with self.client.pipeline(transaction=False) as pipe:
                        for channel, payload in batch:
                            pipe.publish(channel, payload)
                        pipe.execute()
            except redis.RedisError as exc:
                self._paused_until = time.monotonic() + RETRY_AFTER_FAILURE_SECONDS
                log.warning("redis publish of %d messages failed: %s", len(batch), exc)
            finally:
                for _ in batch:
                    self._queue.task_done()
