"""Keeping secrets out of every log line a process writes (docs/security.md, "Logs and secrets").

One rule, applied when a log record is created, so it covers every logger of the process —
gunicorn's error and access logs, RQ, httpx, psycopg and our own — whatever handler or format
later writes the record:

1. the value of any parameter whose name contains token, key, secret, pass, pwd, sig, auth,
   session or csrf (`?token=…`, `api_key=…`, `"password": …`) becomes `[redacted]`;
2. XTRACKER's own secrets (`xtb_…`, `xti_…`) and `Bearer …` credentials become `[redacted]`
   wherever they appear;
3. a URL is cut to its scheme and host (`https://partner.example/…`): destination URLs carry
   partners' keys in their path or query and user:password before the host.

The message is formatted (msg % args) at creation — records are created only above the level in
force, so nothing is formatted that would not be written — and an exception's traceback is
rendered and redacted then as well.
"""
import logging
import re
from typing import Any, Callable

REDACTED = "[redacted]"

_SECRET_NAME = r"[A-Za-z0-9_.\-]*(?:token|key|secret|pass|pwd|sig|auth|session|csrf)[A-Za-z0-9_.\-]*"
# name=value (query strings, form bodies, request lines) up to the next separator.
_PARAM_RE = re.compile(r"(?i)(\b" + _SECRET_NAME + r"=)[^&\s\"'<>;,]*")
# "name": "value" and 'name': 'value' (JSON and Python reprs in messages).
_QUOTED_RE = re.compile(r"(?i)([\"']" + _SECRET_NAME + r"[\"']\s*:\s*)(\"[^\"]*\"|'[^']*'|[^\s,}]+)")
_TOKEN_RE = re.compile(r"\bxt[bi]_[A-Za-z0-9_\-]{4,}")
_BEARER_RE = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=\-]+")
_URL_RE = re.compile(r"(?i)\b(https?|wss?)://(?:[^\s/?#@\"'<>]*@)?([^\s/?#\"'<>]+)[^\s\"'<>]*")


def _url(match: re.Match) -> str:
    origin = f"{match.group(1)}://{match.group(2)}"
    return origin if match.end() - match.start() == len(origin) else origin + "/…"


def redact(text: str) -> str:
    """`text` with secret parameters, XTRACKER secrets and Bearer credentials masked and URLs cut to their host."""
    if not text:
        return text
    text = _URL_RE.sub(_url, text)
    text = _PARAM_RE.sub(lambda m: m.group(1) + REDACTED, text)
    text = _QUOTED_RE.sub(lambda m: m.group(1) + f'"{REDACTED}"', text)
    text = _TOKEN_RE.sub(lambda m: m.group(0)[:4] + REDACTED, text)
    return _BEARER_RE.sub(lambda m: m.group(1) + REDACTED, text)


_formatter = logging.Formatter()


def redact_record(record: logging.LogRecord) -> logging.LogRecord:
    """Replace the record's message (and traceback, stack) by its redacted rendering, in place."""
    try:
        message = record.getMessage()
    except Exception:  # a malformed call: leave it to the handler's own error reporting
        return record
    record.msg, record.args = redact(message), None
    if record.exc_info and not record.exc_text:
        record.exc_text = redact(_formatter.formatException(record.exc_info))
    elif record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    return record


def install() -> None:
    """Make every log record this process creates go through `redact_record` (idempotent)."""
    current: Callable[..., logging.LogRecord] = logging.getLogRecordFactory()
    if getattr(current, "xt_redacting", False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return redact_record(current(*args, **kwargs))

    factory.xt_redacting = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)
