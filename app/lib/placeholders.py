"""Unexpanded partner placeholders (macros): the one rule every entry point and consumer asks.

A network fills `{txid}`, `[txid]`, `%TXID%` or `#txid#` in the postback URL it was given; when it
does not, the placeholder itself arrives. Networks also percent-encode the URL they store, once or
several times, so `{txid}` can arrive as `%7Btxid%7D` or `%257Btxid%257D`: a placeholder is
recognised in the value as received and in each of its percent-decodings.
"""
import ipaddress
import re
from urllib.parse import unquote

# {trader_id}, {{sumdep}}, [txid], %TXID%, #txid# (CAKE's form). `%…%` and `#…#` need an
# identifier inside, so "50%" or a fragment-like "#1" are not taken for placeholders.
PLACEHOLDER_RE = re.compile(r"\{[^{}]*\}|\[[^\[\]]*\]|%[A-Za-z_][A-Za-z0-9_]*%|#[A-Za-z_][A-Za-z0-9_]*#")
# What the postback builder leaves unencoded for the network to fill: {name}, [name], %NAME% with a
# plain macro name inside (#name# is left out: a raw `#` would end the URL at a fragment).
NAMED_PLACEHOLDER_RE = re.compile(r"\{[A-Za-z0-9_.:-]+\}|\[[A-Za-z0-9_.:-]+\]|%[A-Za-z_][A-Za-z0-9_]*%")
# More layers of percent-encoding than any network applies; bounds the work on hostile input.
MAX_DECODINGS = 8
_ESCAPE_RE = re.compile(r"%[0-9A-Fa-f]{2}")


def decodings(text: str) -> list[str]:
    """`text` and each successive percent-decoding of it that changes it (at most MAX_DECODINGS)."""
    forms = [text]
    for _ in range(MAX_DECODINGS):
        if not _ESCAPE_RE.search(forms[-1]):
            break
        decoded = unquote(forms[-1])
        if decoded == forms[-1]:
            break
        forms.append(decoded)
    return forms


def find(text) -> str | None:
    """The placeholder `text` holds, as decoded (e.g. '{txid}' for '%257Btxid%257D'), or None.

    Non-strings hold none. The value as received is checked first, then each decoding.
    """
    if not isinstance(text, str) or not text:
        return None
    for form in decodings(text):
        for match in PLACEHOLDER_RE.finditer(form):
            if not _is_ipv6_literal(match.group()):
                return match.group()
    return None


def _is_ipv6_literal(found: str) -> bool:
    """True for an IPv6 address in brackets (`[2001:db8::1]`, `[fe80::1%eth0]`, as in `[…]:443`): not a macro."""
    if not (found.startswith("[") and found.endswith("]")):
        return False
    try:
        ipaddress.IPv6Address(found[1:-1])
    except ValueError:
        return False
    return True


def holds(text) -> bool:
    """True when `text` holds an unexpanded placeholder in any of its percent-decodings."""
    return find(text) is not None
