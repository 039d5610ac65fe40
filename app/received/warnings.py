"""What looks wrong in a received request: short codes at capture, human sentences on display.

Codes are decided from the request alone (pure), except `unknown_uid`, which the log's insert
statement adds when no click of the space has the uid (app/received/store.py).
"""
from datetime import datetime

from app.conversion.events import (CANONICAL_EVENTS, DEPOSIT_WITHOUT_EID, DEPOSIT_WITHOUT_VALUE, absent, flags_for,
                                   looks_like_seconds, read_epoch_ms, split_glued)
from app.lib import placeholders, tokens

EVENT_ENDPOINTS = {"POST /events": "occurred_at_ms", "GET /e": "t"}
# Header-less endpoints: partners build their URLs, and may glue a second `?` onto them.
GET_ENDPOINTS = frozenset({"GET /e", "GET /bind"})
# Answers after which the request's fields were never read: its shape was refused.
SHAPE_REFUSALS = frozenset({"invalid_json", "invalid_request", "payload_too_large"})
ACCEPTED = frozenset({"queued", "duplicate", "bound", "created"})
UID_ENDPOINTS = frozenset({"POST /events", "GET /e", "POST /bind", "GET /bind"})

UNEXPANDED_MACRO = "unexpanded_macro"
APPENDED_PARAMETERS = "appended_parameters"
UNKNOWN_UID = "unknown_uid"
TIME_FAR = "time_far_from_receipt"
INVALID_EVENT = "invalid_event"

LABELS = {
    UNEXPANDED_MACRO: "unexpanded macro",
    APPENDED_PARAMETERS: "partner appended parameters",
    UNKNOWN_UID: "unknown uid",
    DEPOSIT_WITHOUT_VALUE: "deposit without value",
    DEPOSIT_WITHOUT_EID: "deposit without eid",
    TIME_FAR: "time far from receipt",
    INVALID_EVENT: "invalid event",
}


def macro_fields(params: dict) -> list[tuple[str, str]]:
    """(name, value) of every parameter whose value holds an unexpanded placeholder (however encoded)."""
    return [(name, value) for name, value in params.items() if placeholders.holds(value)]


def read_fields(endpoint: str, params: dict) -> dict:
    """The parameters as the endpoint read them (GET: partner-appended suffixes split off)."""
    return split_glued(params)[0] if endpoint in GET_ENDPOINTS else params


def detect(endpoint: str, params: dict, received_ms: int, time_warn_ms: int, status: str | None = None) -> list[str]:
    """The codes that apply to a request, in display order (`unknown_uid` is added by the store).

    A request refused for its shape (broken JSON, an unknown field) gets no warning about its
    content: its fields were never read, and the row's error says what was wrong.
    """
    found = []
    if endpoint in GET_ENDPOINTS and split_glued(params)[1]:
        found.append(APPENDED_PARAMETERS)
    if macro_fields(params):
        found.append(UNEXPANDED_MACRO)
    time_field = EVENT_ENDPOINTS.get(endpoint)
    if time_field is None or status in SHAPE_REFUSALS:
        return found
    fields = read_fields(endpoint, params)
    event = fields.get("event")
    if event not in CANONICAL_EVENTS:
        if status in (None, INVALID_EVENT):
            found.append(INVALID_EVENT)
    elif status is None or status in ACCEPTED:
        # The same rule the event is flagged by when recorded (app/conversion/events.py).
        found.extend(flag for flag in flags_for(event, fields.get("value"), fields.get("eid"))
                     if flag in (DEPOSIT_WITHOUT_VALUE, DEPOSIT_WITHOUT_EID))
    sent_ms = read_epoch_ms(fields.get(time_field))
    if sent_ms is not None and abs(sent_ms - received_ms) > time_warn_ms:
        found.append(TIME_FAR)
    return found


def uid_to_check(endpoint: str, params: dict) -> str | None:
    """The uid whose click the store looks up, when the endpoint takes one and it is well-formed."""
    uid = read_fields(endpoint, params).get("uid")
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


def describe(code: str, endpoint: str, params: dict, received_at: datetime, status: str,
             similar_uid: str | None = None) -> str:
    """The sentence shown beside a warning badge: what is wrong and what to fix."""
    fields = read_fields(endpoint, params)
    if code == APPENDED_PARAMETERS:
        glued = split_glued(params)[1]
        shown = "; ".join(f"{name}={value}" for name, value in glued[:4])
        return (f"{shown}: the partner appended its own ?name=value to a URL that already had a query."
                f" XTRACKER read it as {_read_as(fields, glued)}. Put the partner's parameters after an & in"
                " the postback URL.")
    if code == UNEXPANDED_MACRO:
        shown = ", ".join(_macro_shown(name, value) for name, value in macro_fields(params)[:4])
        refused = (f" This request was refused ({status}) and was not recorded; XTRACKER refuses a placeholder"
                   " as event, uid, tg_id, value, currency, eid or time." if status not in ACCEPTED else "")
        return (f"{shown}: a macro the sender left unexpanded. Check the macro's spelling in the partner's"
                f" postback URL and that the partner fills it for this event.{refused}")
    if code == UNKNOWN_UID:
        uid = fields.get("uid")
        if similar_uid:
            cause = (f"No click in this space has uid {uid!s}, but click {similar_uid} differs from it only in"
                     " letter case: a system on the way changed the case of the uid (uids are case-sensitive)."
                     " Pass the uid through unchanged.")
        else:
            cause = (f"No click in this space has uid {uid!s}: it did not come from this space's links"
                     " (a wrong macro, another space's token, or a test uid).")
        if status in ACCEPTED:
            return cause + " The request is kept and joins the journey if the click arrives later."
        return cause + f" This request itself was refused ({status}) and was not recorded."
    if code == DEPOSIT_WITHOUT_VALUE:
        return "A deposit without value: revenue does not count it. Add value= with the partner's amount macro."
    if code == DEPOSIT_WITHOUT_EID:
        return ("A deposit without eid: a retried or re-fired postback cannot be told from a new deposit and"
                " counts again. Add eid= with the partner's transaction id macro.")
    if code == TIME_FAR:
        field = EVENT_ENDPOINTS.get(endpoint, "t")
        sent_ms = read_epoch_ms(fields.get(field)) or 0
        delta = sent_ms - int(received_at.timestamp() * 1000)
        where = "before" if delta < 0 else "after"
        if looks_like_seconds(sent_ms):
            return (f"{field}={sent_ms} looks like epoch seconds: send epoch milliseconds"
                    " (seconds × 1000), or leave it out to use the receive time.")
        return (f"{field} is {_span(delta)} {where} the time it was received: send epoch milliseconds in UTC"
                " (not seconds, not local time), or leave it out to use the receive time.")
    if code == INVALID_EVENT:
        event = fields.get("event")
        names = ", ".join(CANONICAL_EVENTS)
        if absent(event):
            return f"The event name is missing: send event= with one of {names}."
        return (f"event {str(event)[:40]!r} is not one of {names}. Map the partner's event name to one of"
                " them in the postback URL.")
    return code


def _macro_shown(name: str, value: str) -> str:
    placeholder = placeholders.find(value)
    if placeholder is not None and placeholder not in value:
        return f"{name}={value} (the placeholder {placeholder}, percent-encoded)"
    return f"{name}={value}"


def _read_as(fields: dict, glued: list[tuple[str, str]]) -> str:
    names = []
    for name, value in glued:
        names.append(name)
        names.extend(k for k, _ in split_glued({name: value})[0].items() if k != name)
    return ", ".join(f"{name}={fields.get(name, '')}" for name in dict.fromkeys(names))
