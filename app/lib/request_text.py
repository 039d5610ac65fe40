"""One rule for the text of every request: UTF-8, without NUL bytes or lone surrogates (docs/api.md).

PostgreSQL's text refuses NUL, its JSON refuses `\\u0000` and unpaired surrogate escapes, and
Python decodes what it is given leniently in many places (werkzeug turns invalid UTF-8 into
U+FFFD; `json.loads` accepts `"\\udc80"`). Rather than each endpoint and each writer finding
out — as a 500, or as a shared batch that fails for its neighbours — every request is checked
once, before routing to a view, by `refuse_bad_text`, registered first in create_app. It
answers 400 with status `invalid_text` and a reason naming the part at fault when any of these
is not clean:

1. the path (its percent-decoded bytes);
2. every query parameter's name and value (percent-decoded, `+` as a space);
3. the headers XTRACKER reads (`READ_HEADERS`);
4. the body: form fields (percent-decoded) for form posts, the whole body otherwise, and for a
   JSON body also its `\\u` escapes (`\\u0000`, a high surrogate without its low half, a low
   surrogate alone).

Clean means: strict UTF-8 (which also refuses encoded surrogates such as `%ED%B2%80`) and no
NUL character. Malformed percent-escapes (`%zz`, a trailing `%`) are taken literally, as
browsers do — partners' unexpanded `%MACRO%` placeholders arrive that way and get their own
warning. A body larger than MAX_BODY_BYTES is left to the view (413).
"""
import re
from urllib.parse import unquote_to_bytes

from flask import current_app, jsonify, request

STATUS = "invalid_text"
# The request headers some view or hook reads (WSGI environ names).
READ_HEADERS = (
    ("HTTP_HOST", "Host"), ("HTTP_USER_AGENT", "User-Agent"), ("HTTP_REFERER", "Referer"),
    ("HTTP_AUTHORIZATION", "Authorization"), ("HTTP_COOKIE", "Cookie"), ("HTTP_X_FORWARDED_FOR", "X-Forwarded-For"),
    ("HTTP_CF_CONNECTING_IP", "CF-Connecting-IP"), ("HTTP_CF_IPCOUNTRY", "CF-IPCountry"),
    ("HTTP_SEC_PURPOSE", "Sec-Purpose"), ("HTTP_PURPOSE", "Purpose"), ("HTTP_ORIGIN", "Origin"),
    ("HTTP_X_CSRF_TOKEN", "X-CSRF-Token"), ("HTTP_HX_REQUEST", "HX-Request"), ("HTTP_HX_TARGET", "HX-Target"),
    ("HTTP_HX_CURRENT_URL", "HX-Current-URL"), ("CONTENT_TYPE", "Content-Type"),
)
# A backslash pair, or a \uXXXX escape (group 1: its hex): consuming `\\` as a pair means an
# escaped backslash followed by "u0000" is not mistaken for an escape.
_ESCAPE_RE = re.compile(rb"\\(?:u([0-9a-fA-F]{4})|.)", re.DOTALL)


# Only an escape of a NUL or of a byte above 0x7f can make ASCII text unclean once decoded.
_RISKY_ESCAPE_RE = re.compile(rb"%(?:00|[89a-fA-F][0-9a-fA-F])")


class BadText(ValueError):
    """Text that is not clean UTF-8; the message names the part of the request at fault."""


def check_bytes(raw: bytes, what: str) -> str:
    """`raw` decoded as strict UTF-8; BadText naming `what` when it is not, or holds a NUL."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadText(f"{what} is not valid UTF-8") from None
    if "\x00" in text:
        raise BadText(f"{what} contains a NUL byte")
    return text


def check_json_escapes(raw: bytes, what: str = "the JSON body") -> None:
    """BadText when a JSON text escapes a NUL (\\u0000) or a lone UTF-16 surrogate."""
    if b"\\u" not in raw:
        return
    pending_high = -1
    for match in _ESCAPE_RE.finditer(raw):
        hex_digits = match.group(1)
        code = int(hex_digits, 16) if hex_digits is not None else -1
        if pending_high >= 0:
            if 0xDC00 <= code <= 0xDFFF and match.start() == pending_high:
                pending_high = -1
                continue
            raise BadText(f"{what} has a lone surrogate escape (a high surrogate without its low half)")
        if code == 0:
            raise BadText(f"{what} escapes a NUL character (\\u0000)")
        if 0xD800 <= code <= 0xDBFF:
            pending_high = match.end()
        elif 0xDC00 <= code <= 0xDFFF:
            raise BadText(f"{what} has a lone surrogate escape (\\u{hex_digits.decode().lower()})")
    if pending_high >= 0:
        raise BadText(f"{what} has a lone surrogate escape (a high surrogate without its low half)")


def _name(raw: bytes) -> str:
    try:
        shown = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "a parameter"
    shown = shown.replace("\x00", "")
    return f"parameter {shown[:40]!r}" if shown else "a parameter"


def check_form(raw: bytes, where: str) -> None:
    """BadText when a name or value of an urlencoded `raw` (query string or form body) is not clean."""
    if raw.isascii() and b"\x00" not in raw and not _RISKY_ESCAPE_RE.search(raw):
        return
    try:
        # Splitting happens at ASCII characters, so the whole being clean means every part is.
        check_bytes(unquote_to_bytes(raw), where)
        return
    except BadText:
        pass
    for part in raw.replace(b";", b"&").split(b"&"):
        name, _, value = part.partition(b"=")
        name_bytes = unquote_to_bytes(name.replace(b"+", b" "))
        check_bytes(name_bytes, f"a {where} parameter name")
        check_bytes(unquote_to_bytes(value.replace(b"+", b" ")), f"{where} {_name(name_bytes)}")


def _environ_bytes(value: str) -> bytes:
    # WSGI carries request bytes as latin-1 code points (PEP 3333).
    return value.encode("latin-1", "replace")


def check_request(environ: dict, body: bytes | None, content_type: str) -> None:
    """BadText for the first part of a request (path, query, read headers, body) that is not clean text."""
    path = environ.get("PATH_INFO", "")
    if not path.isascii() or "\x00" in path:
        check_bytes(_environ_bytes(path), "the path")
    query = environ.get("QUERY_STRING", "")
    if query:
        check_form(_environ_bytes(query), "query")
    for key, name in READ_HEADERS:
        value = environ.get(key)
        if value and (not value.isascii() or "\x00" in value):
            check_bytes(_environ_bytes(value), f"the {name} header")
    if not body:
        return
    if content_type.startswith("application/x-www-form-urlencoded"):
        check_form(body, "form")
        return
    check_bytes(body, "the request body")
    if "json" in content_type or body.lstrip()[:1] in (b"{", b"["):
        check_json_escapes(body)


def refuse_bad_text():
    """before_request hook: None for clean text, else the 400 `invalid_text` answer with its reason."""
    body = None
    if request.method in ("POST", "PUT", "PATCH", "DELETE"):
        length = request.content_length
        if length is None or length <= current_app.config["MAX_BODY_BYTES"]:
            body = request.get_data(cache=True)
    try:
        check_request(request.environ, body, (request.mimetype or "").lower())
    except BadText as exc:
        response = jsonify(ok=False, status=STATUS, error=f"{exc}; send UTF-8 text without NUL characters")
        response.status_code = 400
        return response
    return None
