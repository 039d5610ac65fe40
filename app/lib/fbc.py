"""Meta's click id cookie, `fbc`: `fb.<subdomain index>.<creation time ms>.<fbclid>`.

Source: Meta's Conversions API parameter docs ("fbc": the `_fbc` browser cookie, format
fb.1.1554763741205.AbCdEfGhIjKlMnOpQrStUvWxYzAbCdEfGhIjKlMnOpQrStUvWxYz). The fbclid part goes in
byte for byte: re-casing or trimming it breaks attribution. Meta flags an fbc whose creation time
is after the event it is sent with as modified, so one is never sent dated after its event.
"""
import re

# Subdomain index 0-2, creation time in epoch ms (13 digits), then the fbclid (printable ASCII).
_FBC_RE = re.compile(r"fb\.([0-2])\.([0-9]{13})\.([!-~]{1,500})")


def build(created_ms: int, fbclid: str) -> str:
    """The fbc for a click at `created_ms` (epoch ms) carrying `fbclid`, byte for byte."""
    return f"fb.1.{created_ms}.{fbclid}"


def fbclid_of(fbc: str) -> str | None:
    """The fbclid of a well-formed fbc, or None when `fbc` is not one."""
    match = _FBC_RE.fullmatch(fbc) if isinstance(fbc, str) else None
    return match.group(3) if match else None


def not_after(fbc: str, event_ms: int) -> str:
    """`fbc` unchanged, unless its creation time is after `event_ms`: then re-dated to `event_ms`.

    Only the creation time changes; the subdomain index and the fbclid stay byte for byte. A
    malformed fbc is returned as it is.
    """
    match = _FBC_RE.fullmatch(fbc)
    if match is None or int(match.group(2)) <= event_ms:
        return fbc
    return f"fb.{match.group(1)}.{event_ms}.{match.group(3)}"
