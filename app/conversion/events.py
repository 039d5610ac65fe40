"""Ingress validation: a short list of named steps from raw fields to an accepted event.

Each step either fills in part of `EventIn` or raises `Rejection` with a status from the
documented set (docs/api.md). Empty optional fields count as absent, because postback macros
that a partner leaves empty arrive as `uid=&value=`.
"""
import math
import re
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl, unquote

from app.lib import placeholders, tokens
from app.lib.currency import normalize_currency

CANONICAL_EVENTS = ("contact", "subscribed", "registration", "deposit")

EVENT_FIELDS = frozenset({"event", "uid", "value", "currency", "eid", "occurred_at_ms", "tg_id", "test"})
MAX_EID_LENGTH = 200
MAX_VALUE = Decimal("1e18")
VALUE_QUANTUM = Decimal("0.000001")
TG_ID_MAX = 2**63 - 1
_VALUE_RE = re.compile(r"[0-9]+(\.[0-9]*)?|\.[0-9]+")
# ASCII digits only ("²".isdigit() is true and int("²") fails), few enough for int() to be cheap.
_DIGITS_RE = re.compile(r"[0-9]{1,40}")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
# A glued query: `?` (raw, or `%3F` when the network encoded the URL it appended to) followed by
# name=value pairs, inside one parameter's value (docs/api.md#partner-appended-parameters).
_GLUE_RE = re.compile(r"\?|%3[Ff]")
_GLUED_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]{0,63}")
# Epoch ms below this are almost surely epoch seconds sent by mistake (year 1973 in ms).
LOOKS_LIKE_SECONDS = 100_000_000_000
DEPOSIT_WITHOUT_VALUE = "deposit_without_value"
DEPOSIT_WITHOUT_EID = "deposit_without_eid"
VALUE_ON_NON_DEPOSIT = "value_on_non_deposit"


class Rejection(Exception):
    """Input refused with a documented status and a human reason."""

    def __init__(self, status: str, reason: str, http_status: int = 400):
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.http_status = http_status


@dataclass
class EventIn:
    """A validated event, ready to be written."""
    event: str
    uid: str | None
    tg_id: int | None
    eid: str | None
    value: Decimal | None
    currency: str
    occurred_at_ms: int
    flags: list[str] = field(default_factory=list)
    test: bool = False

    @property
    def dedup_key(self) -> str:
        """The inbox's unique key: the eid when given (time-independent), else event, uid, tg_id and time.

        A test event has keys of its own, so a test never makes the real event with its eid a duplicate.
        """
        prefix = "test:" if self.test else ""
        if self.eid is not None:
            return f"{prefix}eid:{self.event}:{self.eid}"
        return f"{prefix}at:{self.event}:{self.uid or ''}:{self.tg_id or ''}:{self.occurred_at_ms}"


def absent(raw: Any) -> bool:
    """An empty optional field counts as absent: partners' empty macros arrive as `uid=&value=`."""
    return raw is None or (isinstance(raw, str) and raw.strip() == "")


def read_epoch_ms(raw: Any) -> int | None:
    """A time field as whole epoch milliseconds (JSON number or digit string), None when it is not one."""
    if isinstance(raw, str) and _DIGITS_RE.fullmatch(raw.strip()):
        return int(raw.strip())
    if isinstance(raw, float) and raw.is_integer():
        return int(raw)
    if isinstance(raw, bool) or not isinstance(raw, int):
        return None
    return raw


def looks_like_seconds(ms: int) -> bool:
    """True when a time sent as epoch milliseconds is almost surely epoch seconds sent by mistake."""
    return ms < LOOKS_LIKE_SECONDS


def _unexpanded(name: str, status: str, raw: Any) -> None:
    """Refuse `raw` with `status` when it is a placeholder the sender left unexpanded (however encoded)."""
    placeholder = placeholders.find(raw)
    if placeholder is not None:
        raise Rejection(status, f"{name} {raw[:60]!r} is the placeholder {placeholder[:40]} the sender left"
                                " unexpanded: check the macro's spelling in the partner's postback URL")


def described(raw: Any, limit: int = 80) -> str:
    """How an error sentence names a value it refuses: a string quoted, anything else by its JSON kind and
    value ('the number 123', 'true', 'a list'), never a Python type name."""
    if isinstance(raw, str):
        return repr(raw[:limit])
    if raw is None:
        return "null"
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, (int, float, Decimal)):
        return f"the number {str(raw)[:limit]}"
    return "a list" if isinstance(raw, (list, tuple)) else "an object" if isinstance(raw, dict) else "a value"


def check_event(raw: Any) -> str:
    """The event name must be one of the four canonical events."""
    _unexpanded("event", "invalid_event", raw)
    if absent(raw) or (isinstance(raw, str) and raw.strip() == ""):
        raise Rejection("invalid_event", "event is required: one of " + ", ".join(CANONICAL_EVENTS))
    if not isinstance(raw, str):
        raise Rejection("invalid_event", f"event must be a string, one of {', '.join(CANONICAL_EVENTS)}; got {described(raw)}")
    if raw not in CANONICAL_EVENTS:
        raise Rejection("invalid_event", f"event {raw[:64]!r} is not one of " + ", ".join(CANONICAL_EVENTS))
    return raw


def check_uid(raw: Any) -> str | None:
    """A uid is what a Telegram deep link can carry: 1–61 of [A-Za-z0-9_-]."""
    if absent(raw):
        return None
    _unexpanded("uid", "invalid_uid", raw)
    if not isinstance(raw, str) or not tokens.UID_RE.fullmatch(raw.strip()):
        raise Rejection("invalid_uid", f"uid must be a string of 1-61 characters of A-Z a-z 0-9 _ -, not {described(raw)}")
    return raw.strip()


def check_tg_id(raw: Any) -> int | None:
    """A Telegram user id: a positive whole number (JSON number or digit string)."""
    if absent(raw):
        return None
    _unexpanded("tg_id", "invalid_tg_id", raw)
    if isinstance(raw, bool):
        raise Rejection("invalid_tg_id", "tg_id must be a positive whole number")
    if isinstance(raw, str) and _DIGITS_RE.fullmatch(raw.strip()):
        raw = int(raw.strip())
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    if not isinstance(raw, int) or not 0 < raw <= TG_ID_MAX:
        raise Rejection("invalid_tg_id", "tg_id must be a positive whole number")
    return raw


def check_value(raw: Any) -> Decimal | None:
    """A finite, non-negative decimal (string or number), kept to six decimal places."""
    if absent(raw):
        return None
    _unexpanded("value", "invalid_value", raw)
    if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
        raise Rejection("invalid_value", "value must be a number or a numeric string such as \"25.00\"")
    if isinstance(raw, float):
        if not math.isfinite(raw):
            raise Rejection("invalid_value", "value must be finite")
        text = repr(raw)
    else:
        text = str(raw).strip()
    if isinstance(raw, float) and "e" in text.lower():
        text = format(Decimal(text), "f")
    if text.startswith("-"):
        raise Rejection("invalid_value", f"value {text[:40]!r} must not be negative")
    if not _VALUE_RE.fullmatch(text):
        raise Rejection("invalid_value", f"value {text[:40]!r} is not numeric (use digits and an optional '.')")
    try:
        exact = Decimal(text)
    except InvalidOperation:
        raise Rejection("invalid_value", f"value {text[:40]!r} is not numeric") from None
    if exact >= MAX_VALUE:  # before quantize, which runs out of precision on 29+ digits
        raise Rejection("invalid_value", "value is too large (at most 18 digits before the point)")
    value = exact.quantize(VALUE_QUANTUM, rounding=ROUND_HALF_EVEN)
    return value


def check_currency(raw: Any) -> str:
    """An ISO 4217 code, case-folded; USD when absent."""
    if absent(raw):
        return "USD"
    _unexpanded("currency", "invalid_currency", raw)
    code = normalize_currency(raw) if isinstance(raw, str) else None
    if code is None:
        raise Rejection("invalid_currency", f"currency {described(raw, 16)} is not an ISO 4217 code such as USD or EUR")
    return code


def check_eid(raw: Any) -> str | None:
    """An external id: a string or whole number, ≤ 200 printable characters, not an unexpanded macro."""
    if absent(raw):
        return None
    if isinstance(raw, int) and not isinstance(raw, bool):
        raw = str(raw)
    if not isinstance(raw, str):
        raise Rejection("invalid_eid", "eid must be a string (or a whole number)")
    raw = raw.strip()
    if len(raw) > MAX_EID_LENGTH or _CONTROL_RE.search(raw):
        raise Rejection("invalid_eid", f"eid must be at most {MAX_EID_LENGTH} printable characters")
    placeholder = placeholders.find(raw)
    if placeholder is not None:
        raise Rejection("invalid_eid", f"eid {raw[:60]!r} is the placeholder {placeholder[:40]} the sender left"
                                       " unexpanded; every later postback would count as its duplicate")
    return raw


def check_time(raw: Any, *, received_ms: int, max_age_ms: int, max_future_ms: int) -> int:
    """Epoch milliseconds within the plausibility window around receive time; receive time when absent."""
    if absent(raw):
        return received_ms
    _unexpanded("time", "invalid_time", raw)
    raw = read_epoch_ms(raw)
    if raw is None:
        raise Rejection("invalid_time", "time must be whole epoch milliseconds, e.g. 1764086400000")
    if looks_like_seconds(raw):
        raise Rejection("invalid_time", f"time {raw} looks like epoch seconds; send epoch milliseconds")
    if raw < received_ms - max_age_ms:
        raise Rejection("invalid_time", f"time {raw} is more than {max_age_ms // 86_400_000} days in the past")
    if raw > received_ms + max_future_ms:
        raise Rejection("invalid_time", f"time {raw} is more than {max_future_ms // 1000} seconds in the future")
    return raw


def check_test(raw: Any) -> bool:
    """The test marker: JSON true/false, or 1/0/true/false as text (GET /e); absent is false."""
    if absent(raw) or raw is False:
        return False
    if raw is True:
        return True
    if isinstance(raw, str) and raw.strip().lower() in ("1", "true"):
        return True
    if isinstance(raw, str) and raw.strip().lower() in ("0", "false"):
        return False
    raise Rejection("invalid_request", "test must be true or false (test=1 or test=0 on GET /e)")


def flags_for(event: str, value: Any, eid: Any) -> list[str]:
    """Warnings recorded with an accepted event (they never reject it), from its name, value and eid.

    The received log asks the same rule of a request's raw fields, where empty counts as absent.
    """
    flags = []
    if event == "deposit":
        if absent(value):
            flags.append(DEPOSIT_WITHOUT_VALUE)
        if absent(eid):
            flags.append(DEPOSIT_WITHOUT_EID)
    elif not absent(value):
        flags.append(VALUE_ON_NON_DEPOSIT)
    return flags


def parse_event(fields: dict, *, time_field: str, received_ms: int, max_age_ms: int, max_future_ms: int) -> EventIn:
    """Run every step over the raw fields (POST body or GET query) and return the event.

    Steps, in order, so the first problem reported is the most fundamental one:
    1. event name; 2. uid; 3. tg_id; 4. value; 5. currency; 6. eid; 7. time; 8. test; 9. flags.
    """
    event = EventIn(
        event=check_event(fields.get("event")),
        uid=check_uid(fields.get("uid")),
        tg_id=check_tg_id(fields.get("tg_id")),
        value=check_value(fields.get("value")),
        currency=check_currency(fields.get("currency")),
        eid=check_eid(fields.get("eid")),
        occurred_at_ms=check_time(fields.get(time_field), received_ms=received_ms,
                                  max_age_ms=max_age_ms, max_future_ms=max_future_ms),
        test=check_test(fields.get("test")),
    )
    event.flags = flags_for(event.event, event.value, event.eid)
    return event


def split_glued(params: dict[str, str]) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """Undo a partner's second `?`: `currency=USD?value=25` (or `USD%3Fvalue%3D25`) → currency=USD, value=25.

    Returns the parameters with every glued suffix split back into parameters, and the
    (name, original value) of each parameter that carried one. A value is split only when what
    follows its first `?` is one or more name=value pairs (names are identifiers), so an eid such
    as 'what?' stays whole. A split-off parameter never replaces one that was sent with a value;
    it fills one that is absent or empty. Suffixes inside suffixes are split too.
    """
    fields: dict[str, str] = {}
    glued: list[tuple[str, str]] = []
    pending = list(params.items())
    while pending:
        name, value = pending.pop(0)
        head, suffix = _glued_suffix(value) if isinstance(value, str) else (value, [])
        if suffix:
            glued.append((name, value))
            pending[0:0] = suffix
        if absent(fields.get(name)):
            fields[name] = head
    return fields, glued


def _glued_suffix(value: str) -> tuple[str, list[tuple[str, str]]]:
    match = _GLUE_RE.search(value)
    if match is None:
        return value, []
    rest = value[match.end():]
    if match.group() != "?":
        rest = unquote(rest)
    pairs = parse_qsl(rest, keep_blank_values=True)
    if not pairs or "=" not in rest or not all(_GLUED_NAME_RE.fullmatch(k) for k, _ in pairs):
        return value, []
    return value[:match.start()], pairs
