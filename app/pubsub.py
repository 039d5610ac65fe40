"""Redis: the client, channel and queue names, and fail-soft publishing.

Redis carries signals only (live feed, job wake-ups). Postgres holds the truth, so a publish
that fails is logged and dropped; after a failure publishing pauses briefly instead of paying a
connect timeout on every request while Redis is away.
"""
import json
import logging
import time

import redis

log = logging.getLogger(__name__)

FEED_CHANNEL = "xt:space:{space_id}:feed"

RETRY_AFTER_FAILURE_SECONDS = 1.0


def create_redis(url: str) -> redis.Redis:
    """A Redis client with short timeouts: a slow or absent Redis must not stall ingest."""
    return redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=1.0, health_check_interval=30)


def feed_channel(space_id: int) -> str:
    """The per-space live feed channel."""
    return FEED_CHANNEL.format(space_id=space_id)


class Publisher:
    """Publishes JSON messages, swallowing Redis failures (with a short back-off)."""

    def __init__(self, client: redis.Redis):
        self.client = client
        self._paused_until = 0.0

    def publish(self, channel: str, message: dict) -> bool:
        """Publish one message; return False (and log) when Redis is unreachable."""
        if time.monotonic() < self._paused_until:
            return False
        try:
            self.client.publish(channel, json.dumps(message, separators=(",", ":"), default=str))
            return True
        except redis.RedisError as exc:
            self._paused_until = time.monotonic() + RETRY_AFTER_FAILURE_SECONDS
            log.warning("redis publish to %s failed: %s", channel, exc)
            return False
