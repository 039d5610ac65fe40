"""What looks wrong in a received request: short codes at capture, human sentences on display.

Codes are decided from the request alone (pure), except `unknown_uid`, which the log's insert
statement adds when no click of the space has the uid (app/received/store.py).
"""
import re
from datetime import datetime

from app.ingress.parse import CANONICAL_EVENTS
from app.lib import tokens

# The same shapes the ingress refuses as an eid (app/ingress/parse.py): {sumdep}, [txid], %TXID%.
MACRO_RE = re.compile(r"\{[^{}]*\}|\[[^\[\]]*\]|%[A-Za-z_][A-Za-z0-9_]*%")
EVENT_ENDPOINTS = {"POST /events": "occurred_at_ms", "GET /e": "t"}
UID_ENDPOINTS = frozenset({"POST /events", "GET /e", "POST /bind", "GET /bind"})
# Epoch ms below this (1973) are epoch seconds sent by mistake, as app/ingress/parse.py reads them.
LOOKS_LIKE_SECONDS = 100_000_000_000

UNEXPANDED_MACRO = "unexpanded_macro"
UNKNOWN_UID = "unknown_uid"
DEPOSIT_WITHOUT_VALUE = "deposit_without_value"
DEPOSIT_WITHOUT_EID = "deposit_without_eid"
TIME_FAR = "time_far_from_receipt"
INVALID_EVENT = "invalid_event"

LABELS = {
    UNEXPANDED_MACRO: "unexpanded macro",
    UNKNOWN_UID: "unknown uid",
    DEPOSIT_WITHOUT_VALUE: "deposit without value",
    DEPOSIT_WITHOUT_EID: "deposit without eid",
    TIME_FAR: "time far from receipt",
    INVALID_EVENT: "invalid event",
}


def _absent(value) -> bool:
    return value is None or (isinstance(value, str) and value.strip() == "")


def _time_ms(value) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit() and len(value.strip()) <= 20:
        return int(value.strip())
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def macro_fields(params: dict) -> list[tuple[str, str]]:
    """(name, value) of every parameter whose value holds an unexpanded macro."""
    return [(name, value) for name, value in params.items()
            if isinstance(value, str) and MACRO_RE.search(value)]


def detect(endpoint: str, params: dict, received_ms: int, time_warn_ms: int) -> list[str]:
    """The codes that apply to a request, in display order (`unknown_uid` is added by the store)."""
    found = []
    if macro_fields(params):
        found.append(UNEXPANDED_MACRO)
    time_field = EVENT_ENDPOINTS.get(endpoint)
    if time_field is None:
        return found
    event = params.get("event")
    if event not in CANONICAL_EVENTS:
        found.append(INVALID_EVENT)
    elif event == "deposit":
        if _absent(params.get("value")):
            found.append(DEPOSIT_WITHOUT_VALUE)
        if _absent(params.get("eid")):
            found.append(DEPOSIT_WITHOUT_EID)
    sent_ms = _time_ms(params.get(time_field))
    if sent_ms is not None and abs(sent_ms - received_ms) > time_warn_ms:
        found.append(TIME_FAR)
    return found


def uid_to_check(endpoint: str, params: dict) -> str | None:
    """The uid whose click the store looks up, when the endpoint takes one and it is well-formed."""
    uid = params.get("uid")
    if endpoint in UID_ENDPOINTS and isinstance(uid, str) and tokens.UID_RE.fullmatch(uid.strip()):
        return uid.strip()
    return None


def _span(ms: int) -> str:
    minutes = abs(ms) // 60_000
    if minutes >= 2 * 1440:
        return f"{minutes // 1440} days"
    if minutes >= 60:
        return f"{minutes // 60} h {minutes % 60} min"
    return f"{minutes} min"


def describe(code: str, endpoint: str, params: dict, received_at: datetime, status: str) -> str:
    """The sentence shown beside a warning badge: what is wrong and what to fix."""
    if code == UNEXPANDED_MACRO:
        shown = ", ".join(f"{name}={value}" for name, value in macro_fields(params)[:4])
        refused = (" XTRACKER refuses a macro as value or eid, so this request was not recorded."
                   if status in ("invalid_value", "invalid_eid") else "")
        return (f"{shown}: a macro the sender left unexpanded. Check the macro's spelling in the partner's"
                f" postback URL and that the partner fills it for this event.{refused}")
    if code == UNKNOWN_UID:
        return (f"No click in this space has uid {params.get('uid')!s}: it did not come from this space's links"
                " (a wrong macro, another space's token, or a test uid). The request is kept and joins the"
                " journey if the click arrives later.")
    if code == DEPOSIT_WITHOUT_VALUE:
        return "A deposit without value: revenue does not count it. Add value= with the partner's amount macro."
    if code == DEPOSIT_WITHOUT_EID:
        return ("A deposit without eid: a retried or re-fired postback cannot be told from a new deposit and"
                " counts again. Add eid= with the partner's transaction id macro.")
    if code == TIME_FAR:
        field = EVENT_ENDPOINTS.get(endpoint, "t")
        sent_ms = _time_ms(params.get(field)) or 0
        delta = sent_ms - int(received_at.timestamp() * 1000)
        where = "before" if delta < 0 else "after"
        if sent_ms < LOOKS_LIKE_SECONDS:
            return (f"{field}={sent_ms} looks like epoch seconds: send epoch milliseconds"
                    " (seconds × 1000), or leave it out to use the receive time.")
        return (f"{field} is {_span(delta)} {where} the time it was received: send epoch milliseconds in UTC"
                " (not seconds, not local time), or leave it out to use the receive time.")
    if code == INVALID_EVENT:
        event = params.get("event")
        names = ", ".join(CANONICAL_EVENTS)
        if _absent(event):
            return f"The event name is missing: send event= with one of {names}."
        return (f"event {str(event)[:40]!r} is not one of {names}. Map the partner's event name to one of"
                " them in the postback URL.")
    return code
