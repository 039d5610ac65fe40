"""Webhook destinations: a signed JSON POST per event (docs/webhooks.md).

Signed per the Standard Webhooks spec: `webhook-id` is the delivery's stable id (the same on
every retry, so receivers can dedup), `webhook-timestamp` the send time in epoch seconds, and
`webhook-signature` `v1,<base64 HMAC-SHA256 of "id.timestamp.body">` under the destination's
secret. While a rotated-out secret is in its grace period, a second signature under it follows,
space-separated, as the spec allows.
"""
import base64
import hashlib
import hmac
import json
import secrets
from datetime import datetime
from typing import Any

import httpx

from app.delivery.rows import ClaimedDelivery, OpenDestination
from app.delivery.destinations import (Sent, check_http_url, check_status, exchange, excerpt, format_value,
                                       named_after_host)
from app.lib import clock

# Rules this module leaves out take the plain ones (PLAIN_RULES, app/delivery/destinations/__init__.py).
KIND = "webhook"
LABEL = "Webhook"
BATCH_SIZE = 1
FORM_FIELDS = ("url",)
# The signing secret is generated, shown once and changed only by rotation.
SECRET_FIELD = None
TARGET_FIELD = "url"
SECRET_SHOWN_ONCE = True
ROTATES_SECRET = True
NAMED_AFTER = "URL's host"
TEST_SWITCH = True
EVENT_NAME_SUGGESTIONS = ()
DEFAULT_EVENT_MAP = {"contact": "contact", "subscribed": "subscribed", "registration": "registration",
                     "deposit": "deposit"}
SECRET_PREFIX = "whsec_"
USER_AGENT = "XTRACKER-Webhooks/1"


def new_secret() -> str:
    """A Standard Webhooks secret: whsec_ and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def check_settings(fields: dict[str, Any]) -> dict:
    """The webhook's settings: its URL."""
    return {"url": check_http_url(fields.get("url"))}


def check_config(fields: dict[str, Any]) -> tuple[dict, str]:
    """The webhook's settings (its URL) and a freshly generated signing secret."""
    return check_settings(fields), new_secret()


def form_defaults(config: dict) -> dict:
    """The values a new destination's form starts with: none."""
    return {}


def read_form(fields: dict) -> dict:
    """The posted form's settings as check_config takes them."""
    return fields


def default_name(config: dict) -> str:
    """The name of a destination saved without one: the kind and the host it calls."""
    return named_after_host(KIND, config[TARGET_FIELD])



def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<signature>` for one secret, per the Standard Webhooks spec."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    digest = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment is not None else None


def payload(destination: OpenDestination, delivery: ClaimedDelivery, now: datetime) -> dict:
    """The documented JSON body for one delivery (docs/webhooks.md)."""
    click = None
    if delivery.clicked_at is not None:
        click = {
            "link_slug": delivery.link_slug, "clicked_at": _iso(delivery.clicked_at),
            "campaign_name": delivery.campaign_name, "fbclid": delivery.fbclid,
            "utm_source": delivery.utm_source, "utm_medium": delivery.utm_medium,
            "utm_campaign": delivery.utm_campaign, "utm_content": delivery.utm_content,
            "utm_term": delivery.utm_term, "country": delivery.country,
        }
    return {
        "type": "conversion",
        "timestamp": _iso(now),
        "data": {
            "id": delivery.stable_id,
            "event": delivery.event,
            "event_name": destination.event_map[delivery.event],
            "inbox_id": str(delivery.event_id),
            "space": delivery.space_slug,
            "uid": delivery.uid,
            "tg_id": delivery.tg_id,
            "eid": delivery.eid,
            "value": format_value(delivery.value),
            "currency": delivery.currency,
            "occurred_at": _iso(clock.from_ms(delivery.occurred_at_ms)),
            "occurred_at_ms": delivery.occurred_at_ms,
            "received_at": _iso(delivery.received_at),
            "source": delivery.source,
            "flags": list(delivery.flags),
            "test": bool(delivery.test),
            "click": click,
        },
    }


def send(client: httpx.Client, destination: OpenDestination, deliveries: list[ClaimedDelivery],
         now: datetime) -> Sent:
    """POST one signed event; any 2xx is success, anything else is retried (410 pauses the destination)."""
    (delivery,) = deliveries
    body = json.dumps(payload(destination, delivery, now), separators=(",", ":"), ensure_ascii=False).encode()
    timestamp = int(now.timestamp())
    signatures = [sign(destination.secret, delivery.stable_id, timestamp, body)]
    if destination.previous_secret:
        signatures.append(sign(destination.previous_secret, delivery.stable_id, timestamp, body))
    headers = {"content-type": "application/json", "user-agent": USER_AGENT, "webhook-id": delivery.stable_id,
               "webhook-timestamp": str(timestamp), "webhook-signature": " ".join(signatures)}
    url = destination.config["url"]
    result = exchange(client, "POST", url, headers=headers, content=body,
                      request_excerpt=excerpt(f"POST {url}\n\n".encode() + body))
    return check_status(result)

