"""S2S postback destinations: a URL template with {macros}, requested once per event (docs/postback-macros.md)."""
import re
from datetime import datetime
from typing import Any, Callable
from urllib.parse import quote

import httpx

from app.delivery.rows import ClaimedDelivery, OpenDestination
from app.delivery.destinations import (DeliveryError, DestinationError, Sent, check_http_url, check_status,
                                       exchange, excerpt, format_value, named_after_host)

# Rules this module leaves out take the plain ones (PLAIN_RULES, app/delivery/destinations/__init__.py).
KIND = "postback"
LABEL = "S2S postback"
BATCH_SIZE = 1
FORM_FIELDS = ("url_template", "method", "expect_status")
SECRET_FIELD = None
TARGET_FIELD = "url_template"
SECRET_SHOWN_ONCE = False
ROTATES_SECRET = False
NAMED_AFTER = "URL's host"
TEST_SWITCH = True
EVENT_NAME_SUGGESTIONS = ()
DEFAULT_EVENT_MAP = {"contact": "contact", "subscribed": "subscribed", "registration": "registration",
                     "deposit": "deposit"}
USER_AGENT = "XTRACKER-Postback/1"
METHODS = ("GET", "POST")

MACRO_RE = re.compile(r"\{([^{}]*)\}")


def _text(value: Any) -> str:
    return "" if value is None else str(value)


# Macro name → how its value is taken from a delivery (and the destination's event map).
MACROS: dict[str, Callable[[ClaimedDelivery, dict], Any]] = {
    "uid": lambda d, m: d.uid,
    "event": lambda d, m: d.event,
    "event_name": lambda d, m: m[d.event],
    "value": lambda d, m: format_value(d.value),
    "currency": lambda d, m: d.currency,
    "eid": lambda d, m: d.eid,
    "event_id": lambda d, m: d.stable_id,
    "inbox_id": lambda d, m: d.event_id,
    "occurred_at": lambda d, m: d.occurred_at_ms // 1000,
    "occurred_at_ms": lambda d, m: d.occurred_at_ms,
    "tg_id": lambda d, m: d.tg_id,
    "link_slug": lambda d, m: d.link_slug,
    "fbclid": lambda d, m: d.fbclid,
    "campaign_name": lambda d, m: d.campaign_name,
    "utm_source": lambda d, m: d.utm_source,
    "utm_medium": lambda d, m: d.utm_medium,
    "utm_campaign": lambda d, m: d.utm_campaign,
    "utm_content": lambda d, m: d.utm_content,
    "utm_term": lambda d, m: d.utm_term,
    "country": lambda d, m: d.country,
    "test": lambda d, m: 1 if d.test else 0,
}


# What each macro stands for, as docs/postback-macros.md tables it (shown beside the template field).
MACRO_DESCRIPTIONS: dict[str, str] = {
    "uid": "the click uid",
    "event": "the canonical event: contact, subscribed, registration, deposit",
    "event_name": "the name from this destination's event map",
    "value": "the amount, a decimal without trailing zeros (25.5)",
    "currency": "ISO 4217 code (USD when none was sent)",
    "eid": "your external id",
    "event_id": "xt-<inbox id>-<destination id>, the same on every retry",
    "inbox_id": "XTRACKER's id of the event",
    "occurred_at": "when the event happened, epoch seconds",
    "occurred_at_ms": "when the event happened, epoch milliseconds",
    "tg_id": "the Telegram user id",
    "link_slug": "the slug of the link the journey's click came through",
    "fbclid": "the click's fbclid, byte for byte",
    "campaign_name": "the click's campaign name",
    "utm_source": "the click's utm_source",
    "utm_medium": "the click's utm_medium",
    "utm_campaign": "the click's utm_campaign",
    "utm_content": "the click's utm_content",
    "utm_term": "the click's utm_term",
    "country": "the click's two-letter country code",
    "test": "1 for a test event (only when this destination accepts test events), else 0",
}


def macro_outside_path_and_query(template: str) -> str | None:
    """The part of `template` (scheme, user info, host, port, fragment) holding a {macro}, or None.

    Macros may fill in only the path and the query: where the worker connects is fixed when the
    destination is saved, not chosen by whoever sends events (docs/security.md, SSRF).
    """
    scheme, sep, rest = template.partition("://")
    if "{" in scheme or not sep:
        return "scheme" if "{" in scheme else None
    end = min((i for i in (rest.find("/"), rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
    authority = rest[:end]
    if "{" in authority:
        userinfo, at, hostport = authority.rpartition("@")
        if at and "{" in userinfo:
            return "user info"
        host, colon, port = hostport.rpartition(":") if not hostport.endswith("]") else (hostport, "", "")
        return "port" if colon and "{" in port and "{" not in host else "host"
    if "{" in rest[end:].partition("#")[2]:
        return "fragment"
    return None


def check_template(raw: Any) -> str:
    """An http(s) URL template whose every {macro} is known and sits in the path or the query."""
    part = macro_outside_path_and_query(raw.strip()) if isinstance(raw, str) else None
    if part is not None:
        raise DestinationError(f"url_template: macros are allowed only in the path and the query, not in the {part}",
                               field="url_template")
    template = check_http_url(raw, "url_template")
    unknown = [name for name in MACRO_RE.findall(template) if name not in MACROS]
    if unknown:
        raise DestinationError(f"unknown macro {{{unknown[0][:40]}}} in url_template; known macros: "
                               + ", ".join("{" + name + "}" for name in MACROS), field="url_template")
    return template


def check_settings(fields: dict[str, Any]) -> dict:
    """The postback's template, method (GET/POST) and expected status (None: any 2xx)."""
    method = (fields.get("method") or "GET").upper()
    if method not in METHODS:
        raise DestinationError("method must be GET or POST", field="method")
    expect = fields.get("expect_status")
    if expect is not None and (isinstance(expect, bool) or not isinstance(expect, int) or not 100 <= expect <= 599):
        raise DestinationError("expect_status must be an HTTP status between 100 and 599", field="expect_status")
    return {"url_template": check_template(fields.get("url_template")), "method": method, "expect_status": expect}


def check_config(fields: dict[str, Any]) -> tuple[dict, None]:
    """The postback's settings; a postback has no secret."""
    return check_settings(fields), None


def form_defaults(config: dict) -> dict:
    """The values a new destination's form starts with."""
    return {"method": "GET"}


def read_form(fields: dict) -> dict:
    """The posted form's settings as check_config takes them: a numeric expect_status becomes a number
    (anything else is refused by check_settings with its message)."""
    raw = fields.get("expect_status")
    if raw:
        fields["expect_status"] = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 6 else raw
    return fields


def default_name(config: dict) -> str:
    """The name of a destination saved without one: the kind and the host it calls."""
    return named_after_host(KIND, config[TARGET_FIELD])



def expand(template: str, delivery: ClaimedDelivery, event_map: dict) -> str:
    """The template with every macro replaced by its URL-encoded value (empty when unknown for this event)."""
    return MACRO_RE.sub(lambda m: quote(_text(MACROS[m.group(1)](delivery, event_map)), safe=""), template)


def send(client: httpx.Client, destination: OpenDestination, deliveries: list[ClaimedDelivery],
         now: datetime) -> Sent:
    """Request the expanded URL with the configured method; success is the expected status (or any 2xx)."""
    (delivery,) = deliveries
    config = destination.config
    part = macro_outside_path_and_query(config["url_template"])
    if part is not None:
        # Saved before the rule existed: never let an event choose where the worker connects.
        raise DeliveryError(f"url_template has a macro in the {part}; macros are allowed only in the path and"
                            " the query (edit the destination)", permanent=True)
    url = expand(config["url_template"], delivery, destination.event_map)
    result = exchange(client, config["method"], url, headers={"user-agent": USER_AGENT},
                      request_excerpt=excerpt(f"{config['method']} {url}"))
    return check_status(result, config.get("expect_status"))
