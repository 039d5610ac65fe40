"""The kinds of destination: one module each, registered once in app/delivery/kinds.py.

Each kind owns everything about itself, behind the same surface, so nothing elsewhere tests its name:
- who it is: `KIND`, `LABEL`, `NAMED_AFTER` (what a nameless one is named after), `default_name(config)`;
- its form: `FORM_FIELDS`, `SECRET_FIELD` (a write-only secret the operator gives, or None),
  `form_defaults(app_config)`, `read_form(fields)`, and its template
  `templates/setup/destinations/kinds/<kind>.html` (settings, target summary, notes);
- its settings: `app_defaults(app_config)`, `check_config(fields) -> (config, secret | None)` for a
  new destination, `check_settings(fields)` without the secret, `replacement_secret(fields)`,
  `TARGET_FIELD` (the URL it calls, checked against private addresses), `SECRET_SHOWN_ONCE`,
  `ROTATES_SECRET`; test traffic: `TEST_SWITCH`, `accepts_test(config, switch)`;
- its event map: `DEFAULT_EVENT_MAP`, `EVENT_NAME_SUGGESTIONS`;
- its delivery rules: `refuse(delivery, now)` (never send), `wait_until(delivery, now, app_config)`,
  `invalid(destination, delivery)` (checked before batching), `BATCH_SIZE` (events per request),
  and `send(client, destination, deliveries, now) -> Sent`, raising DeliveryError marked
  permanent or retryable (and slow, gone, Retry-After); only retryable errors are scheduled again.

This module holds what they share: the outcome types, the timed, excerpted HTTP call, and the
plain answers (PLAIN_RULES) that a kind which leaves a rule out is given when it is registered.
"""
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx

from app.delivery.rows import ClaimedDelivery, OpenDestination
from app.lib import ssrf

EXCERPT_BYTES = 2048


class DestinationError(ValueError):
    """A destination's settings are invalid; the message says which and why.

    `field` names the setting at fault (pixel_id, url, url_template, name, event_map.deposit …)
    so a form can put the message beside it; None when no single setting is.
    """

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.field = field


@dataclass
class Sent:
    """A request the destination accepted."""
    status_code: int
    duration_ms: int
    request_excerpt: str
    response_excerpt: str


class DeliveryError(Exception):
    """A request the destination did not accept (or that never reached it).

    `permanent` errors go straight to dead; others are retried on the schedule. `slow` (429,
    timeouts) means at least 60 s before the next try; `retry_after` is the destination's own
    Retry-After in seconds; `gone` (410) pauses the destination.
    """

    def __init__(self, message: str, *, permanent: bool = False, status_code: int | None = None,
                 retry_after: float | None = None, slow: bool = False, gone: bool = False,
                 duration_ms: int = 0, request_excerpt: str = "", response_excerpt: str = ""):
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.status_code = status_code
        self.retry_after = retry_after
        self.slow = slow
        self.gone = gone
        self.duration_ms = duration_ms
        self.request_excerpt = request_excerpt
        self.response_excerpt = response_excerpt


@dataclass
class Exchange:
    """One HTTP request/response pair, timed, with excerpts for the attempt log."""
    response: httpx.Response
    duration_ms: int
    request_excerpt: str
    response_excerpt: str
    extra: dict[str, Any] = field(default_factory=dict)

    def sent(self) -> Sent:
        return Sent(self.response.status_code, self.duration_ms, self.request_excerpt, self.response_excerpt)

    def error(self, message: str, **flags: Any) -> DeliveryError:
        return DeliveryError(message, status_code=self.response.status_code, duration_ms=self.duration_ms,
                             request_excerpt=self.request_excerpt, response_excerpt=self.response_excerpt, **flags)


def excerpt(text: str | bytes) -> str:
    """At most 2 KB of text (bytes decoded leniently, NUL characters dropped: PostgreSQL text refuses them)."""
    if isinstance(text, bytes):
        text = text[:EXCERPT_BYTES].decode("utf-8", "replace")
    text = text.replace("\x00", "")
    encoded = text.encode("utf-8")
    if len(encoded) <= EXCERPT_BYTES:
        return text
    return encoded[:EXCERPT_BYTES].decode("utf-8", "ignore")


def retry_after_seconds(response: httpx.Response) -> float | None:
    """The Retry-After header in seconds (delta-seconds form), or None."""
    raw = response.headers.get("retry-after", "").strip()
    if raw.isascii() and raw.isdigit():
        return float(raw)
    if raw:
        from email.utils import parsedate_to_datetime
        try:
            moment = parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
        return max(0.0, moment.timestamp() - time.time())
    return None


def exchange(client: httpx.Client, method: str, url: str, *, headers: dict[str, str] | None = None,
             content: bytes | None = None, request_excerpt: str) -> Exchange:
    """Make one request; transport failures become retryable DeliveryErrors (blocked addresses: permanent)."""
    started = time.perf_counter()
    try:
        response = client.request(method, url, headers=headers, content=content)
    except ssrf.BlockedAddress as exc:
        raise DeliveryError(str(exc), permanent=True, request_excerpt=request_excerpt,
                            duration_ms=_ms_since(started)) from None
    except httpx.TimeoutException as exc:
        raise DeliveryError(f"timed out ({type(exc).__name__})", slow=True, request_excerpt=request_excerpt,
                            duration_ms=_ms_since(started)) from None
    except httpx.HTTPError as exc:
        raise DeliveryError(f"request failed: {type(exc).__name__}: {exc}"[:500], request_excerpt=request_excerpt,
                            duration_ms=_ms_since(started)) from None
    return Exchange(response, _ms_since(started), request_excerpt, excerpt(response.content))


def _ms_since(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)


def format_value(value: Decimal | None) -> str | None:
    """A decimal as a plain string without trailing zeros ('25.000000' → '25', '1E+2' never)."""
    if value is None:
        return None
    text = format(Decimal(value).normalize(), "f")
    return text


def check_http_url(raw: Any, name: str = "url") -> str:
    """An absolute http(s) URL with a host, at most 2,048 characters."""
    if not isinstance(raw, str) or not raw.strip():
        raise DestinationError(f"{name} is required: an http:// or https:// URL", field=name)
    url = raw.strip()
    if len(url) > 2048:
        raise DestinationError(f"{name} must be at most 2048 characters", field=name)
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError):
        raise DestinationError(f"{name} {url[:100]!r} is not a valid URL", field=name) from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise DestinationError(f"{name} {url[:100]!r} must start with http:// or https:// and name a host",
                               field=name)
    return url


def check_status(result: Exchange, expect_status: int | None = None) -> Sent:
    """2xx (or exactly `expect_status`) is success; 410 pauses; 429 waits at least 60 s; the rest is retried."""
    status = result.response.status_code
    if status == expect_status or (expect_status is None and 200 <= status < 300):
        return result.sent()
    raise result.error(f"HTTP {status}", gone=status == 410, slow=status == 429,
                       retry_after=retry_after_seconds(result.response))


def named_after_host(kind: str, url: str) -> str:
    """The name of a nameless destination that calls `url`: its kind and host."""
    return f"{kind} {httpx.URL(url).host}"[:200]


def no_app_defaults(config: dict) -> dict:
    """Settings taken from the app when the operator leaves them out: none."""
    return {}


def switch_decides_test(config: dict, switch: bool) -> bool:
    """Test events come when the destination's "accept test events" switch is on."""
    return bool(switch)


def keeps_secret(fields: dict) -> None:
    """An edit never replaces the secret (none, or changed only by rotation)."""
    return None


def sends_every_delivery(delivery: ClaimedDelivery, now) -> None:
    """No delivery is refused before sending."""
    return None


def never_waits(delivery: ClaimedDelivery, now, config: dict) -> None:
    """A delivery is sent as soon as it is due."""
    return None


def judged_by_receiver(destination: OpenDestination, delivery: ClaimedDelivery) -> None:
    """The receiver judges the event itself: nothing is held back."""
    return None


# The plain answer of each rule, for a kind that calls a URL of its own and leaves the rule out
# (the registry, app/delivery/kinds.py, fills them in when it registers the kind).
PLAIN_RULES = {"app_defaults": no_app_defaults, "accepts_test": switch_decides_test,
               "replacement_secret": keeps_secret, "refuse": sends_every_delivery, "wait_until": never_waits,
               "invalid": judged_by_receiver}
