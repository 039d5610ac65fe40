"""Minting of unguessable identifiers and secrets, and the digests stored in their place."""
import hashlib
import re
import secrets

SECRET_PREFIX = {"bearer": "xtb_", "ingest": "xti_", "report": "xtr_"}

# Telegram's /start payload is at most 64 of [A-Za-z0-9_-]; "fb_" takes three.
UID_RE = re.compile(r"[A-Za-z0-9_-]{1,61}")
# A bot deep link carries the uid as `?start=fb_<uid>`; the bot reads it back from `/start fb_<uid>`.
START_PREFIX = "fb_"


def new_uid() -> str:
    """A 128-bit random uid, 22 URL-safe characters, so `fb_<uid>` fits a Telegram deep link.

    Never starts with '-', so a uid pasted after a command (`journey show SPACE <uid>`) is never
    read as an option."""
    while True:
        uid = secrets.token_urlsafe(16)
        if not uid.startswith("-"):
            return uid


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
