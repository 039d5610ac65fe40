"""Sealing destination secrets (CAPI access tokens, webhook signing secrets) with the app's key."""
from flask import Flask

from app import services
from app.lib import secretbox


def _key(app: Flask) -> bytes:
    return services.of(app).destination_key


def _context(space_id: int, kind: str) -> str:
    return f"destination:{space_id}:{kind}"


def seal_secret(app: Flask, space_id: int, kind: str, secret: str) -> bytes:
    """The secret encrypted for storage, bound to its space and destination kind."""
    return secretbox.seal(_key(app), secret, _context(space_id, kind))


def open_secret(app: Flask, space_id: int, kind: str, sealed: bytes) -> str:
    """The plaintext of a stored secret (SealError if SECRET_KEY changed or the value was moved)."""
    return secretbox.open_sealed(_key(app), sealed, _context(space_id, kind))


def hint(secret: str) -> str:
    """What may be shown of a secret again: its last four characters."""
    return "…" + secret[-4:]
