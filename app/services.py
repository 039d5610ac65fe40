"""The per-process services, named and typed in one place.

The app factory (`app.create_app`) builds every one of them at start-up and `app.close_app`
closes them; code reaches them as `services.of(app).<name>`. Nothing here opens a socket or starts
a thread: the background threads (publisher, received log, wakers, live hub, group-commit
writers) start on first use inside the serving process, never before gunicorn forks. The one
services built on first use are the Telegram send limiter, whose in-memory storage starts a timer
thread as it is created, and the destinations' HTTP client, which follows the settings of its
first use.
"""
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from flask import Flask, current_app

if TYPE_CHECKING:
    import httpx
    import redis
    from limits.strategies import MovingWindowRateLimiter
    from psycopg_pool import ConnectionPool

    from app.auth.counters import Counters
    from app.conversion.inbox import InboxWriter
    from app.conversion.wake import Waker
    from app.landing.views import Landing
    from app.lib.dns import Resolver
    from app.lib.proxies import TrustedProxies
    from app.lib.ttl_cache import TtlCache
    from app.live import Hub
    from app.pubsub import Publisher
    from app.received.capture import ReceivedLog
    from app.telegram.inbox import UpdateWriter

EXTENSION = "xt_services"


@dataclass
class Services:
    """Everything one process shares between requests and jobs."""
    pool: "ConnectionPool"
    redis: "redis.Redis"
    proxies: "TrustedProxies"
    publisher: "Publisher"
    inbox: "InboxWriter"                # events: group commit of POST /events, GET /e
    landing: "Landing"                  # host sets, caches, cookie key, GeoIP and the click writer
    delivery_waker: "Waker"
    telegram_waker: "Waker"
    live_hub: "Hub"
    received_log: "ReceivedLog"
    telegram_http: "httpx.Client"       # the Bot API
    telegram_updates: "UpdateWriter"    # group commit of the Telegram webhook
    telegram_hooks: "TtlCache"          # webhook hook id -> bot
    resolver: "Resolver"                # DNS, for custom domain checks (tests install their own)
    destination_key: bytes              # seals destination secrets
    form_key: bytes                     # signs one-time form tokens
    # Destinations (SSRF-guarded): built on first use from the settings of that moment (tests
    # tighten ALLOW_PRIVATE_DESTINATIONS on a running app).
    build_delivery_http: "Callable[[], httpx.Client]"
    counters: "Counters | None" = None  # rate-limit counters, attached by app.auth.limits.install
    limit_rates: dict = field(default_factory=dict)  # limit setting text -> its parsed rates
    _delivery_http: "httpx.Client | None" = field(default=None, repr=False)
    _telegram_limiter: "MovingWindowRateLimiter | None" = field(default=None, repr=False)

    @property
    def delivery_http(self) -> "httpx.Client":
        """The pooled client for destinations."""
        if self._delivery_http is None:
            self._delivery_http = self.build_delivery_http()
        return self._delivery_http

    def drop_delivery_http(self) -> None:
        """Close the destinations' client; the next use builds one from the current settings."""
        client, self._delivery_http = self._delivery_http, None
        if client is not None:
            client.close()

    @property
    def telegram_limiter(self) -> "MovingWindowRateLimiter":
        """The Bot API send limiter, built on first use (its storage starts a thread)."""
        if self._telegram_limiter is None:
            from limits.storage import MemoryStorage
            from limits.strategies import MovingWindowRateLimiter
            self._telegram_limiter = MovingWindowRateLimiter(MemoryStorage())
        return self._telegram_limiter


def of(app: Flask | None = None) -> Services:
    """The services of `app` (the current app when None)."""
    return (app if app is not None else current_app).extensions[EXTENSION]
