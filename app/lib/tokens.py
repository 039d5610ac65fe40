"""Minting of unguessable identifiers and secrets, and the digests stored in their place."""
import hashlib
import re
import secrets
from datetime import date, datetime, timedelta, timezone

SECRET_PREFIX = {"bearer": "xtb_", "ingest": "xti_", "report": "xtr_"}

# Telegram's /start payload is at most 64 of [A-Za-z0-9_-]; "fb_" takes three.
UID_RE = re.compile(r"[A-Za-z0-9_-]{1,61}")
# A bot deep link carries the uid as `?start=fb_<uid>`; the bot reads it back from `/start fb_<uid>`.
START_PREFIX = "fb_"


# A uid minted since migration 0026 opens with its day: three base64url digits counting the days
# since UID_EPOCH (UTC), so the click's day partition is found from the uid alone (xt_uid_day in
# SQL reads it the same way). Older uids (secrets.token_urlsafe(16): 22 characters whose last
# one is always A, Q, g or w) stay valid; a new uid never ends with those, so the two never mix up.
UID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
UID_EPOCH = date(2020, 1, 1)
_OLD_UID_LAST = frozenset("AQgw")
_NEW_UID_LAST = "".join(c for c in UID_ALPHABET if c not in _OLD_UID_LAST)


def new_uid(at: datetime | date | None = None) -> str:
    """A uid of 22 URL-safe characters carrying its day, so `fb_<uid>` fits a Telegram deep link.

    The first three characters are the UTC day of `at` (default today: the click's own time
    when the click is stored at once); the other 19 are random (about 114 bits). Never starts
    with '-' (days before year 2700), so a uid pasted after a command (`journey show SPACE <uid>`)
    is never read as an option."""
    if at is None:
        at = datetime.now(timezone.utc)
    if isinstance(at, datetime):
        at = (at if at.tzinfo else at.replace(tzinfo=timezone.utc)).astimezone(timezone.utc).date()
    days = min(max((at - UID_EPOCH).days, 0), 61 * 4096 + 4095)
    prefix = UID_ALPHABET[days >> 12] + UID_ALPHABET[(days >> 6) & 63] + UID_ALPHABET[days & 63]
    body = "".join(secrets.choice(UID_ALPHABET) for _ in range(18))
    return prefix + body + secrets.choice(_NEW_UID_LAST)


def uid_day(uid: str) -> date | None:
    """The UTC day a uid minted since 0026 carries, or None for an older uid or one of another shape.

    A click is stored on or after its uid's day (the same day, except a channel invite's uid, minted
    ahead into the pool)."""
    if len(uid) != 22 or uid[-1] in _OLD_UID_LAST or not UID_RE.fullmatch(uid):
        return None
    a, b, c = (UID_ALPHABET.index(ch) for ch in uid[:3])
    return UID_EPOCH + timedelta(days=(a << 12) + (b << 6) + c)


def uid_from_start(payload: str) -> str | None:
    """The uid a bot deep link carried (`/start fb_<uid>`), or None when the payload is not one."""
    if not payload.startswith(START_PREFIX):
        return None
    uid = payload[len(START_PREFIX):]
    return uid if UID_RE.fullmatch(uid) else None


def new_secret(kind: str) -> str:
    """A 256-bit random secret whose prefix names its kind (xtb_ bearer, xti_ ingest token, xtr_ report key)."""
    return SECRET_PREFIX[kind] + secrets.token_urlsafe(32)


def digest(secret: str) -> bytes:
    """SHA-256 of a secret: what the database stores and looks up."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()


def hint(secret: str) -> str:
    """The part of a secret safe to show again later: its prefix and last four characters."""
    return f"{secret[:4]}…{secret[-4:]}"
