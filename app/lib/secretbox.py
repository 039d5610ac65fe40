"""Encryption at rest for destination credentials: AES-256-GCM under a key derived from SECRET_KEY.

The key is HKDF-SHA256(SECRET_KEY, info="xtracker destination credentials"), so the same
SECRET_KEY always opens what it sealed and no second key has to be configured. A sealed value is
version byte 1, a 12-byte random nonce, then the ciphertext with its tag. `context` (for example
the destination's space and kind) is authenticated too, so a sealed value copied onto another
row does not open.
"""
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = b"\x01"
_INFO = b"xtracker destination credentials"


class SealError(ValueError):
    """A sealed value could not be opened (wrong SECRET_KEY, wrong context, or corrupted)."""


def derive_key(secret_key: str) -> bytes:
    """The 256-bit encryption key derived from SECRET_KEY."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(secret_key.encode())


def seal(key: bytes, plaintext: str, context: str) -> bytes:
    """Encrypt and authenticate `plaintext`, bound to `context`."""
    nonce = os.urandom(12)
    return VERSION + nonce + AESGCM(key).encrypt(nonce, plaintext.encode(), context.encode())


def open_sealed(key: bytes, sealed: bytes, context: str) -> str:
    """Decrypt what `seal` produced with the same key and context, or raise SealError."""
    sealed = bytes(sealed)
    if len(sealed) < 29 or sealed[:1] != VERSION:
        raise SealError("not a sealed value of a known version")
    try:
        return AESGCM(key).decrypt(sealed[1:13], sealed[13:], context.encode()).decode()
    except InvalidTag:
        raise SealError("sealed value does not open with this key and context") from None
