"""Redaction of what the received log stores: no secret ever reaches the database or a page."""
import json
import re
from typing import Any

# Bearer secrets and ingest tokens (app/lib/tokens.py) wherever they appear: a partner may paste
# one into any parameter, and a bearer secret sent as ?token= must not be kept either.
_SECRET_RE = re.compile(r"xt[bi]_[A-Za-z0-9_-]{6,}")
SECRET_PARAMS = frozenset({"token"})
REDACTED = "(redacted)"
MAX_VALUE = 300
MAX_KEY = 64
MAX_KEYS = 40
MAX_EXCERPT = 500


def redact_text(text: str, limit: int = MAX_VALUE) -> str:
    """`text` with every secret-looking substring replaced and cut to `limit` characters."""
    if "xt" not in text and len(text) <= limit:
        return text
    cleaned = _SECRET_RE.sub(lambda m: m.group(0)[:4] + REDACTED, text)
    return cleaned if len(cleaned) <= limit else cleaned[:limit] + "…"


def _value(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return redact_text(value)
    return redact_text(json.dumps(value, separators=(",", ":"), default=str))


def redact_params(params: dict) -> dict:
    """A copy of a query or JSON object safe to store: secrets masked, keys and values cut."""
    shown: dict[str, Any] = {}
    for key, value in list(params.items())[:MAX_KEYS]:
        name = redact_text(str(key), MAX_KEY)
        shown[name] = REDACTED if name in SECRET_PARAMS else _value(value)
    return shown


def _not_json(name: str):
    """NaN and Infinity are not JSON (RFC 8259) and PostgreSQL's json refuses them: such a body is
    shown as an excerpt, as the API refused it (invalid_json)."""
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    """A JSON number as a float; one beyond float range (1e999) is refused like NaN."""
    number = float(text)
    if number in (float("inf"), float("-inf")):
        raise ValueError(f"{text[:20]} is out of range")
    return number


def redact_body(raw: bytes) -> tuple[dict, str | None]:
    """(params, excerpt) of a POST body: its JSON object redacted, or a redacted excerpt of anything else."""
    if not raw:
        return {}, None
    try:
        body = json.loads(raw.decode("utf-8"), parse_constant=_not_json, parse_float=_finite_float)
    except (ValueError, RecursionError):
        body = None
    if isinstance(body, dict):
        return redact_params(body), None
    return {}, redact_text(raw[:MAX_EXCERPT * 4].decode("utf-8", "replace"), MAX_EXCERPT)
