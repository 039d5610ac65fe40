"""Every environment setting XTRACKER reads, in one table, parsed and validated at start-up.

A bad value raises ConfigError naming the variable; the processes refuse to start with it.
The README's configuration table is this table.
"""
import os
import re
from dataclasses import dataclass
from typing import Any, Callable

from limits import parse_many

from app.lib import geoip, proxies


class ConfigError(ValueError):
    """A setting is missing or has a value XTRACKER cannot use."""


def _url(schemes: tuple[str, ...]) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        scheme = raw.split("://", 1)[0] if "://" in raw else ""
        if scheme not in schemes:
            raise ValueError(f"must be a URL starting with {' or '.join(s + '://' for s in schemes)}")
        return raw
    return parse


def _int(lo: int, hi: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ValueError("must be a whole number") from None
        if not lo <= value <= hi:
            raise ValueError(f"must be between {lo} and {hi}")
        return value
    return parse


def _float(lo: float, hi: float) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise ValueError("must be a number") from None
        if not lo <= value <= hi:
            raise ValueError(f"must be between {lo} and {hi}")
        return value
    return parse


def _bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("must be 1/0, true/false, yes/no or on/off")


def _secret_key(raw: str) -> str:
    if len(raw) < 32:
        raise ValueError("must be at least 32 characters (e.g. `python3 -c 'import secrets; print(secrets.token_urlsafe(48))'`)")
    return raw


def _choice(*options: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if raw not in options:
            raise ValueError(f"must be one of {', '.join(options)}")
        return raw
    return parse


def _public_url(raw: str) -> str:
    if not re.fullmatch(r"https?://[^/\s]+", raw.rstrip("/")):
        raise ValueError("must be an origin such as https://xtracker.example.com (no path)")
    return raw.rstrip("/")


_HOSTNAME_RE = re.compile(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*")


def _hostname(raw: str) -> str:
    name = raw.strip().lower().rstrip(".")
    if not _HOSTNAME_RE.fullmatch(name):
        raise ValueError(f"{raw.strip()!r} is not a hostname such as tracker.example.com")
    return name


def _hostnames(raw: str) -> frozenset[str]:
    return frozenset(_hostname(part) for part in raw.split(",") if part.strip())


def _optional_hostname(raw: str) -> str:
    return _hostname(raw) if raw.strip() else ""




def _geoip_database(raw: str) -> str:
    path = raw.strip()
    if path:
        geoip.check_database(path)
    return path


def _rate_limit(raw: str) -> str:
    """A rate such as `100/minute` or `10/second;1000/hour`; `off` disables it (empty string)."""
    text = raw.strip()
    if text.lower() == "off":
        return ""
    try:
        items = parse_many(text)
    except ValueError:
        items = []
    if not items:
        raise ValueError("must be a rate such as 100/minute or 10/second;1000/hour, or off")
    return text


def _graph_version(raw: str) -> str:
    if not re.fullmatch(r"v\d{1,2}\.\d", raw):
        raise ValueError("must look like v23.0")
    return raw


@dataclass(frozen=True)
class Setting:
    name: str
    parse: Callable[[str], Any]
    default: str | None
    secret: bool
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("DATABASE_URL", _url(("postgresql", "postgres")), None, True,
            "PostgreSQL connection URL. Required (make run starts a private one when unset)."),
    Setting("REDIS_URL", _url(("redis", "rediss", "unix")), None, True,
            "Redis URL for the live feed and RQ. Required (make run starts a private one when unset)."),
    Setting("SECRET_KEY", _secret_key, None, True,
            "At least 32 random characters. Signs sessions; derives the key that encrypts destination credentials. Required."),
    Setting("PORT", _int(1, 65535), "8000", False, "Port the web process listens on."),
    Setting("WEB_CONCURRENCY", _int(1, 64), "2", False, "gunicorn worker processes (one per core)."),
    Setting("PUBLIC_URL", _public_url, "http://localhost:8000", False,
            "Origin under which users and integrators reach this deployment; used in printed URLs."),
    Setting("LOG_LEVEL", _choice("DEBUG", "INFO", "WARNING", "ERROR"), "INFO", False, "Log level of every process."),
    Setting("DB_POOL_MIN", _int(1, 100), "2", False, "Connections each process keeps open."),
    Setting("DB_POOL_MAX", _int(1, 200), "10", False, "Most connections one process opens."),
    Setting("DB_POOL_TIMEOUT", _float(0.1, 60), "3", False,
            "Seconds a request waits for a database connection before answering 503."),
    Setting("MAX_BODY_BYTES", _int(1024, 10_485_760), "65536", False, "Largest request body accepted (413 above it)."),
    Setting("EVENT_MAX_AGE_DAYS", _int(1, 3650), "90", False,
            "Oldest occurred_at_ms / t accepted, in days before receive time (older is invalid_time)."),
    Setting("EVENT_MAX_FUTURE_SECONDS", _int(0, 86400), "600", False,
            "Furthest occurred_at_ms / t accepted ahead of receive time (clock skew allowance)."),
    Setting("KEY_GRACE_HOURS", _int(0, 720), "24", False,
            "Hours a rotated-out secret keeps working."),
    Setting("AUTH_CACHE_SECONDS", _int(0, 300), "10", False,
            "Seconds a web process caches a verified credential (expiry is still checked exactly)."),
    Setting("SESSION_HOURS", _int(1, 8760), "336", False,
            "Hours a dashboard login session lasts (a logout ends it at once)."),
    Setting("LOGIN_MAX_FAILURES", _int(1, 1000), "5", False,
            "Failed sign-ins per email and client address within LOGIN_THROTTLE_MINUTES before that pair is"
            " refused (4x that per client address, whatever the email)."),
    Setting("LOGIN_THROTTLE_MINUTES", _int(1, 1440), "15", False,
            "Window, in minutes, over which failed sign-ins are counted and refused."),
    Setting("INGEST_RATE_LIMIT", _rate_limit, "10000/second", False,
            "Ingress requests per credential (bearer secret or ingest token) across all web processes;"
            " beyond it 429 with Retry-After. `off` disables; counted in Redis, not enforced while Redis is away."),
    Setting("AUTH_FAILURE_RATE_LIMIT", _rate_limit, "300/minute", False,
            "Ingress requests refused for a wrong or missing credential (401) per client address; beyond it"
            " 429 before any credential lookup. `off` disables."),
    Setting("LANDING_RATE_LIMIT", _rate_limit, "60/minute", False,
            "Landings per client address and link that record a click; beyond it the visitor is still sent"
            " on, without a uid and without a click. `off` disables."),
    Setting("LOGIN_RATE_LIMIT", _rate_limit, "30/minute", False,
            "Sign-in and invitation form submissions per client address (on top of the failed sign-in"
            " throttle); beyond it 429. `off` disables."),
    Setting("INGEST_WRITERS", _int(1, 32), "4", False,
            "Concurrent inbox writers per web process; each commits a batch of waiting events at once."),
    Setting("INGEST_BATCH_MAX", _int(1, 5000), "256", False, "Most events one inbox writer commits together."),
    Setting("ALLOW_PRIVATE_DESTINATIONS", _bool, "0", False,
            "1 lets destinations call loopback, private and link-local addresses (local development and"
            " tests); otherwise such requests are refused on the resolved address. `make run` sets 1 unless"
            " given (a local machine's sinks are local); set 0 before `make run` to try the refusal."),
    Setting("GRAPH_API_BASE_URL", _url(("https", "http")), "https://graph.facebook.com", False,
            "Base URL of Meta's Graph API for Conversions API destinations (tests point it at a local sink)."),
    Setting("GRAPH_API_VERSION", _graph_version, "v23.0", False,
            "Graph API version new Conversions API destinations use unless one is given."),
    Setting("CAPI_CLICK_WAIT_SECONDS", _int(0, 86400), "3600", False,
            "Seconds a Conversions API delivery waits for its journey's click before it goes with what is known."),
    Setting("DELIVERY_CONNECT_TIMEOUT", _float(0.1, 60), "5", False, "Seconds to connect to a destination."),
    Setting("DELIVERY_READ_TIMEOUT", _float(0.1, 120), "15", False,
            "Seconds to wait for a destination's response (a timeout is retried, at least 60 s later)."),
    Setting("DELIVERY_CONCURRENCY", _int(1, 256), "32", False, "Requests one delivery worker keeps in flight."),
    Setting("DELIVERY_LEASE_SECONDS", _int(30, 3600), "300", False,
            "Seconds a worker owns the deliveries it claimed; after that a dead worker's rows are due again."),
    Setting("TRACKER_HOSTS", _hostnames, "localhost,127.0.0.1", False,
            "Comma-separated hostnames (any port) that serve the whole app; PUBLIC_URL's host is always one."
            " Other hosts serve only verified custom landing domains, and everything else is 404."),
    Setting("CNAME_TARGET", _optional_hostname, "", False,
            "Hostname customers point their landing domains at (CNAME); PUBLIC_URL's host when empty."),
    Setting("TRUSTED_PROXIES", proxies.parse_networks, "cloudflare,127.0.0.0/8,::1/128", False,
            "Comma-separated CIDRs (and `cloudflare` for Cloudflare's published ranges) whose"
            " CF-Connecting-IP, CF-IPCountry and X-Forwarded-For headers are believed."),
    Setting("GEOIP_DB", _geoip_database, "", False,
            "Path to a MaxMind-format country database (.mmdb); countries of clicks that did not come"
            " through Cloudflare are looked up in it. Empty: no lookup."),
    Setting("CLICK_REUSE_MINUTES", _int(0, 10080), "30", False,
            "Minutes a browser that opens the same link again keeps its uid (no new click); 0 disables."),
    Setting("LINK_CACHE_SECONDS", _int(0, 300), "5", False,
            "Seconds a web process caches a link or custom domain looked up by a landing."),
    Setting("LANDING_WRITERS", _int(1, 32), "4", False,
            "Threads per web process that commit landings' clicks in shared batches (group commit)."),
    Setting("LANDING_BATCH_MAX", _int(1, 5000), "256", False, "Most landings one click writer commits together."),
    Setting("DELIVERY_ATTEMPT_DAYS", _int(1, 3650), "90", False,
            "Days the log of delivery attempts (each request made, with its excerpts) is kept; dropped by whole"
            " days. The deliveries themselves are kept."),
    Setting("EVENT_DAYS", _int(0, 36500), "0", False,
            "Days the events (and their dedup keys) are kept, dropped by whole days; 0 keeps them for ever."
            " A copy of an event sent after its day was dropped is recorded as new; keep it longer than any"
            " delivery retries (a delivery whose event is gone is no longer listed or sent)."),
    Setting("CLICK_DAYS", _int(0, 36500), "0", False,
            "Days the clicks are kept, dropped by whole days; 0 keeps them for ever. Journeys and reports"
            " keep their counts."),
    Setting("CLICK_ADDRESS_RETENTION_DAYS", _int(1, 3650), "90", False,
            "Days a click keeps its client IP and user agent (for ad-platform matching) before they are blanked."),
    Setting("RECEIVED_LOG_DAYS", _int(1, 3650), "7", False,
            "Days the received log keeps every ingress request of a space, dropped by whole days (the newest"
            " RECEIVED_LOG_MIN_ROWS are kept even when older)."),
    Setting("RECEIVED_LOG_MIN_ROWS", _int(0, 1_000_000), "1000", False,
            "Newest received-log rows a space keeps whatever their age."),
    Setting("RECEIVED_LOG_BUFFER", _int(10, 1_000_000), "10000", False,
            "Captured requests a web process holds for the received log; when full, log rows (never events)"
            " are dropped and counted."),
    Setting("RECEIVED_TIME_WARN_MINUTES", _int(1, 525_600), "60", False,
            "Minutes between an event's own time and its receipt beyond which the received log warns."),
    Setting("ECB_RATES_URL", _url(("https", "http")),
            "https://www.ecb.europa.eu/stats/eurofxref/eurofxref-hist-90d.xml", False,
            "The ECB euro reference rates document (daily, 90-day or full history XML) the rates job fetches."),
    Setting("RATES_FETCH_MINUTES", _int(0, 10080), "360", False,
            "Minutes between fetches of ECB_RATES_URL by the scheduler; 0 turns the fetch off (manual rates only)."),
    Setting("RATE_MAX_AGE_DAYS", _int(0, 31), "7", False,
            "Days an exchange rate stands in for later days without one (weekends, holidays); beyond, the rate is missing."),
    Setting("COST_UPLOAD_MAX_BYTES", _int(1024, 52_428_800), "2097152", False,
            "Largest body of POST /costs and of a cost or rate CSV upload (413 above it)."),
    Setting("TELEGRAM_API_BASE_URL", _url(("https", "http")), "https://api.telegram.org", False,
            "Base URL of the Telegram Bot API (a self-hosted Bot API server, or a local fake in tests)."),
    Setting("TELEGRAM_TIMEOUT", _float(0.5, 60), "10", False, "Seconds XTRACKER waits for a Bot API call."),
    Setting("TELEGRAM_POOL_SIZE", _int(1, 5000), "100", False,
            "Per-click invite links kept pre-minted per connected channel (topped up as landings hand them out)."),
    Setting("TELEGRAM_INVITE_UNUSED_HOURS", _int(1, 720), "48", False,
            "Hours after which an invite link handed to a click and never used is revoked."),
    Setting("TELEGRAM_LEFT_WITHIN_DAYS", _int(1, 365), "7", False,
            "N of the per-link \"left within N days\" figure on the Telegram screen and in telegram status."),
    Setting("TELEGRAM_HISTORY_DAYS", _int(7, 3650), "365", False,
            "Days the Telegram log keeps join requests, joins and leaves, and drip messages (hourly channel stats"
            " and who is a member stay); undecided requests and unsent messages are kept whatever their age."),
)

_BY_NAME = {s.name: s for s in SETTINGS}


def load(environ: dict[str, str] | None = None, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Parse every setting from the environment (overrides win); raise ConfigError on the first bad one."""
    environ = os.environ if environ is None else environ
    overrides = overrides or {}
    config: dict[str, Any] = {}
    for setting in SETTINGS:
        if setting.name in overrides:
            config[setting.name] = overrides[setting.name]
            continue
        raw = environ.get(setting.name)
        if raw is None or raw == "":
            if setting.default is None:
                raise ConfigError(f"{setting.name} is not set: {setting.help}")
            raw = setting.default
        try:
            config[setting.name] = setting.parse(raw)
        except ValueError as exc:
            shown = "(hidden)" if setting.secret else repr(raw)
            raise ConfigError(f"{setting.name}={shown} is invalid: {exc}") from None
    if config["DB_POOL_MIN"] > config["DB_POOL_MAX"]:
        raise ConfigError("DB_POOL_MIN must not exceed DB_POOL_MAX")
    for name, value in overrides.items():
        if name not in _BY_NAME:
            config[name] = value
    return config
