"""How much of each text a click keeps, and what happens to the rest (docs/links.md#what-a-click-stores).

One rule for the landing and POST /clicks. Ad URLs run long (click ids, tracking redirects and a
dozen utm and placement parameters carrying campaign and ad names add up), and a paid visitor
must never be turned away over one: what is too long is cut or dropped here, and the
click carries a flag saying so, so "absent" and "too long to keep" can be told apart.
"""
# Cut to this many characters (at the last whole `name=value` that fits): informational text.
CUT_LIMITS = {"raw_query": 8192, "referrer": 2048}
# Dropped (stored as absent) above this many characters: values that must be kept exactly or not
# at all (a cut fbclid or user agent would no longer match at Meta).
DROP_LIMITS = {"fbclid": 500, "fbp": 255, "user_agent": 1024}
DEFAULT_LIMIT = 512


def limit_of(name: str) -> int:
    """The most characters the click keeps of `name`."""
    return CUT_LIMITS.get(name) or DROP_LIMITS.get(name) or DEFAULT_LIMIT


def fit(name: str, raw: str | None, flags: list[str]) -> str | None:
    """`raw` as the click stores it: NULs removed, None when empty, cut or dropped when too long.

    A cut appends `<name>_cut` to `flags`, a drop `<name>_too_long`.
    """
    if not raw:
        return None
    text = raw.replace("\x00", "")
    if not text:
        return None
    limit = limit_of(name)
    if len(text) <= limit:
        return text
    if name in CUT_LIMITS:
        flags.append(f"{name}_cut")
        cut = text[:limit]
        if name == "raw_query" and "&" in cut:
            cut = cut[:cut.rindex("&")]
        return cut
    flags.append(f"{name}_too_long")
    return None
