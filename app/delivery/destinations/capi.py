"""Meta Conversions API destinations (docs/destinations.md#facebook-capi).

One request carries up to 1,000 events of one pixel when a backlog exists. Each event is first
checked against what Meta requires of its mapped name (`invalid`); one that cannot be valid is
never sent, so it cannot fail its batch. A request succeeds only on a 2xx whose `events_received`
equals the number sent; since Meta does not say which events of a short batch it dropped, the
whole batch is retried, and the stable `event_id` lets Meta dedup the ones it already had. A batch
Meta refuses with a permanent error is split by the delivery loop until the events at fault are
isolated (app/delivery/dispatch.py).

Source of the rules: Meta's Conversions API reference, "Server event parameters", "Customer
information parameters" and "Custom data parameters" (developers.facebook.com/docs/marketing-api/
conversions-api/parameters).
"""
import hashlib
import json
import re
from datetime import datetime, timedelta
from typing import Any

import httpx

from app.delivery.rows import ClaimedDelivery, OpenDestination
from app.delivery.destinations import (DestinationError, Sent, exchange, excerpt,
                                       retry_after_seconds)
from app.lib import fbc as fbc_cookie
from app.lib import proxies

KIND = "capi"
LABEL = "Meta CAPI"
BATCH_SIZE = 1000
# The form's fields, as check_config names the settings; SECRET_FIELD is given by the operator,
# write-only. No TARGET_FIELD: a CAPI destination calls Meta's Graph API, not a URL of its own.
FORM_FIELDS = ("pixel_id", "access_token", "test_event_code", "graph_version")
SECRET_FIELD = "access_token"
TARGET_FIELD = None
SECRET_SHOWN_ONCE = False
ROTATES_SECRET = False
NAMED_AFTER = "pixel id"
# Whether test events come here follows the settings (a test event code), not a switch.
TEST_SWITCH = False
# Meta's standard events, offered as suggestions in the event map.
EVENT_NAME_SUGGESTIONS = ("Contact", "Lead", "CompleteRegistration", "Purchase", "Subscribe", "StartTrial",
                          "SubmitApplication", "Schedule", "AddPaymentInfo", "InitiateCheckout", "Donate")
DEFAULT_EVENT_MAP = {"contact": "Contact", "subscribed": "Lead", "registration": "CompleteRegistration",
                     "deposit": "Purchase"}
MAX_EVENT_AGE = timedelta(days=7)
# A waiting delivery is looked at again this often, so a click that arrives ends the wait soon.
WAIT_RECHECK = timedelta(seconds=60)
# Graph error codes that mean "try again later" (throttling, temporary unavailability).
TRANSIENT_CODES = frozenset({1, 2, 4, 17, 32, 341, 613, 80004})
THROTTLE_CODES = frozenset({4, 17, 32, 613, 80004})
# How the user converted, by the kind of link the journey's click came through.
ACTION_SOURCE = {"web": "website", "bot": "chat", "channel": "chat"}

# custom_data Meta requires for a standard event name: a Purchase without value and currency is
# refused (code 100, subcode 2804010 "Missing Currency for Purchase Event") and fails its batch.
REQUIRED_CUSTOM_DATA = {"Purchase": ("value", "currency")}
# Customer information that lets Meta match an event; at least one must be present (client_ip_address
# counts only together with client_user_agent).
MATCH_KEYS = ("external_id", "fbc", "fbp", "em", "ph")

_PIXEL_RE = re.compile(r"[0-9]{1,20}")
_TEST_CODE_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_VERSION_RE = re.compile(r"v[0-9]{1,2}\.[0-9]")


def check_settings(fields: dict[str, Any]) -> dict:
    """The pixel id, Graph API version and optional test_event_code (everything but the token)."""
    pixel_id = str(fields.get("pixel_id") or "").strip()
    if not _PIXEL_RE.fullmatch(pixel_id):
        raise DestinationError("pixel_id is required: the dataset (pixel) id, digits only", field="pixel_id")
    version = fields.get("graph_version") or ""
    if not _VERSION_RE.fullmatch(version):
        raise DestinationError("graph_version must look like v23.0", field="graph_version")
    test_code = (fields.get("test_event_code") or "").strip() or None
    if test_code is not None and not _TEST_CODE_RE.fullmatch(test_code):
        raise DestinationError("test_event_code must be 1-64 letters, digits, _ or -", field="test_event_code")
    return {"pixel_id": pixel_id, "graph_version": version, "test_event_code": test_code}


def check_token(raw: Any) -> str:
    """The Conversions API access token: required, at most 1,000 characters, no whitespace."""
    token = (raw or "").strip() if isinstance(raw, str) or raw is None else ""
    if not token or len(token) > 1000 or any(ch.isspace() for ch in token):
        raise DestinationError("access_token is required: the Conversions API access token, without spaces",
                               field="access_token")
    return token


def check_config(fields: dict[str, Any]) -> tuple[dict, str]:
    """The pixel id, Graph API version and optional test_event_code, and the access token (the secret)."""
    pixel_id = str(fields.get("pixel_id") or "").strip()
    if not _PIXEL_RE.fullmatch(pixel_id):
        raise DestinationError("pixel_id is required: the dataset (pixel) id, digits only", field="pixel_id")
    token = check_token(fields.get("access_token"))
    return check_settings(fields), token


def app_defaults(config: dict) -> dict:
    """Settings taken from the app when the operator leaves them out: the Graph API version."""
    return {"graph_version": config["GRAPH_API_VERSION"]}


def form_defaults(config: dict) -> dict:
    """The values a new destination's form starts with."""
    return app_defaults(config)


def read_form(fields: dict) -> dict:
    """The posted form's settings as check_config takes them: an empty version means the app's."""
    if not fields.get("graph_version"):
        fields.pop("graph_version", None)
    return fields


def default_name(config: dict) -> str:
    """The name of a destination saved without one."""
    return f"Meta pixel {config['pixel_id']}"


def accepts_test(config: dict, switch: bool) -> bool:
    """Test events come exactly when a test_event_code is set (Meta keeps them out of real reporting)."""
    return bool(config.get("test_event_code"))


def replacement_secret(fields: dict) -> str | None:
    """The new access token an edit carries, checked; None keeps the stored one."""
    return check_token(fields.get("access_token")) if fields.get("access_token") else None


def refuse(delivery: ClaimedDelivery, now: datetime) -> str | None:
    """Why this delivery must never be sent (Meta rejects a whole batch over one stale event), or None."""
    if delivery.occurred_at_ms < (now - MAX_EVENT_AGE).timestamp() * 1000:
        return "event is older than 7 days; Meta's Conversions API rejects it (and would fail its whole batch)"
    return None


def wait_until(delivery: ClaimedDelivery, now: datetime, config: dict) -> datetime | None:
    """When to look again if the journey has no click yet and CAPI_CLICK_WAIT_SECONDS has not run out; None: send now."""
    if delivery.clicked_at is not None:
        return None
    deadline = delivery.received_at + timedelta(seconds=config["CAPI_CLICK_WAIT_SECONDS"])
    if now >= deadline:
        return None
    return min(deadline, now + WAIT_RECHECK)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def server_event(destination: OpenDestination, delivery: ClaimedDelivery) -> dict:
    """One entry of the request's `data` array, per Meta's Conversions API.

    external_id is SHA-256 of the uid exactly as minted (uids are case-sensitive: no lower-casing),
    then of the Telegram user id's digits. The fbc is never dated after the event.
    """
    user_data: dict[str, Any] = {}
    event_ms = delivery.occurred_at_ms
    fbc = delivery.fbc
    if not fbc and delivery.fbclid and delivery.clicked_at is not None:
        # fbclid byte for byte: Meta matches it exactly, re-casing or trimming breaks attribution.
        fbc = fbc_cookie.build(int(delivery.clicked_at.timestamp() * 1000), delivery.fbclid)
    if fbc:
        user_data["fbc"] = fbc_cookie.not_after(fbc, event_ms)
    if delivery.fbp:
        user_data["fbp"] = delivery.fbp
    client_ip = proxies.normalize_address(str(delivery.client_ip)) if delivery.client_ip is not None else None
    if client_ip is not None:
        user_data["client_ip_address"] = client_ip
    if delivery.user_agent:
        user_data["client_user_agent"] = delivery.user_agent
    external_ids = [_sha256(delivery.uid)] if delivery.uid else []
    if delivery.tg_id is not None:
        external_ids.append(_sha256(str(delivery.tg_id)))
    if external_ids:
        user_data["external_id"] = external_ids
    event = {
        "event_name": destination.event_map[delivery.event],
        "event_time": event_ms // 1000,
        "event_id": delivery.stable_id,
        "action_source": ACTION_SOURCE.get(delivery.link_kind, "other"),
        "user_data": user_data,
    }
    if delivery.event == "deposit" and delivery.value is not None:
        event["custom_data"] = {"value": float(delivery.value), "currency": delivery.currency}
    if delivery.link_kind == "web" and delivery.link_slug:
        event["event_source_url"] = f"{destination.runtime.public_url}/{delivery.link_slug}"
    return event


def invalid(destination: OpenDestination, delivery: ClaimedDelivery) -> str | None:
    """Why Meta would refuse this event as it would be sent (so it must not be), or None.

    Checks, for the event's mapped name: the custom_data the name requires (Purchase: value and
    currency); that user_data can be matched (external_id, fbc, fbp, or client_ip_address with
    client_user_agent); and, for action_source website, client_user_agent and event_source_url.
    """
    event = server_event(destination, delivery)
    name = event["event_name"]
    custom = event.get("custom_data") or {}
    missing = [key for key in REQUIRED_CUSTOM_DATA.get(name, ()) if custom.get(key) in (None, "")]
    if missing:
        why = "a deposit without value" if delivery.event == "deposit" else f"a {delivery.event} event"
        return (f"not sent: Meta requires {' and '.join(missing)} for {name} events, and this is {why};"
                " Meta would refuse it (code 100, subcode 2804010) and fail its batch")
    user = event["user_data"]
    if not any(user.get(key) for key in MATCH_KEYS) and not (
            user.get("client_ip_address") and user.get("client_user_agent")):
        return ("not sent: Meta requires customer information to match the event (uid, Telegram user, fbc,"
                " fbp, or client address with user agent), and this event has none")
    if event["action_source"] == "website":
        if not user.get("client_user_agent"):
            return "not sent: Meta requires client_user_agent for website events, and the click has none"
        if not event.get("event_source_url"):
            return "not sent: Meta requires event_source_url for website events"
    return None


def send(client: httpx.Client, destination: OpenDestination, deliveries: list[ClaimedDelivery],
         now: datetime) -> Sent:
    """POST the batch to /<version>/<pixel>/events; success needs events_received == len(batch)."""
    config = destination.config
    body: dict[str, Any] = {"data": [server_event(destination, d) for d in deliveries]}
    if config.get("test_event_code"):
        body["test_event_code"] = config["test_event_code"]
    url = f"{destination.runtime.graph_base_url}/{config['graph_version']}/{config['pixel_id']}/events"
    shown = excerpt(f"POST {url}\n\n" + json.dumps(body, separators=(",", ":")))
    # The token travels in the body, never in the URL, and never in the logged excerpt.
    content = json.dumps({**body, "access_token": destination.secret}, separators=(",", ":")).encode()
    result = exchange(client, "POST", url, headers={"content-type": "application/json"}, content=content,
                      request_excerpt=shown)
    status = result.response.status_code
    try:
        answer = result.response.json()
    except ValueError:
        answer = None
    if 200 <= status < 300:
        received = answer.get("events_received") if isinstance(answer, dict) else None
        if received == len(deliveries):
            return result.sent()
        raise result.error(f"Meta received {received} of {len(deliveries)} events; the batch is retried")
    error = answer.get("error") if isinstance(answer, dict) and isinstance(answer.get("error"), dict) else {}
    code = error.get("code")
    transient = bool(error.get("is_transient")) or code in TRANSIENT_CODES or status == 429 or status >= 500
    raise result.error(error_text(error, status, result.response.reason_phrase), permanent=not transient,
                       slow=status == 429 or code in THROTTLE_CODES, retry_after=retry_after_seconds(result.response))


def error_text(error: dict, status: int, reason: str = "") -> str:
    """Meta's error as stored in the attempt: code/subcode, message, error_user_title and _msg, fbtrace_id.

    `error` is the Graph API's `error` object ({"message", "type", "code", "error_subcode",
    "error_user_title", "error_user_msg", "fbtrace_id"}); absent parts are left out.
    """
    code = error.get("code")
    text = f"Meta error {code}" + (f"/{error['error_subcode']}" if error.get("error_subcode") else "") \
        + f" (HTTP {status}): {str(error.get('message') or reason)[:500]}"
    title, detail = error.get("error_user_title"), error.get("error_user_msg")
    if title or detail:
        text += " — " + ": ".join(str(part)[:500] for part in (title, detail) if part)
    if error.get("fbtrace_id"):
        text += f" (fbtrace_id {str(error['fbtrace_id'])[:64]})"
    return text
