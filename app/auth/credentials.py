"""Checking the per-space secrets on ingress requests.

Bearer secrets authorise POST endpoints and only travel in the Authorization header; ingest
tokens authorise header-less GET endpoints and travel in the URL. Neither works in the other's
place. Verified keys are cached briefly per process (the database round trip would otherwise
dominate ingest); the cached expiry is still compared with the clock on every request, so a
rotated-out secret stops at exactly the end of its grace.

Wrong credentials are cheap: text that cannot be a secret (wrong prefix, length or alphabet) is
refused without a lookup, and a well-formed secret the database does not know is remembered as
unknown for AUTH_CACHE_SECONDS in a separate, bounded cache, so a flood of wrong tokens neither
queries the database per request nor evicts the verified keys that valid requests hit.
"""
import re
import threading
import time
from datetime import datetime

from flask import current_app, request

from app import db
from app.auth import store
from app.lib import clock, tokens


class AuthError(Exception):
    """The request carries no usable credential; `reason` tells the caller which and why."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


_cache: dict[bytes, tuple[float, dict]] = {}
_unknown: dict[bytes, float] = {}
# Digests verified in the last hour: exempts them from the per-address wrong-credential limit
# only (they are still checked like any other), so a flood from a shared address never refuses them.
_known: dict[bytes, float] = {}
_KNOWN_SECONDS = 3600
_cache_lock = threading.Lock()
_CACHE_LIMIT = 10_000
_UNKNOWN_LIMIT = 100_000
# What tokens.new_secret mints: a kind prefix and 32 random bytes in URL-safe base64 (43 characters).
# Every kind in tokens.SECRET_PREFIX (bearer, ingest token, report key), so a new kind needs no change here.
SECRET_RE = re.compile("(?:" + "|".join(map(re.escape, tokens.SECRET_PREFIX.values())) + r")[A-Za-z0-9_-]{43}")


def _lookup(secret: str) -> dict | None:
    if not SECRET_RE.fullmatch(secret):
        return None
    ttl = current_app.config["AUTH_CACHE_SECONDS"]
    key = tokens.digest(secret)
    if ttl:
        now = time.monotonic()
        hit = _cache.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        unknown_until = _unknown.get(key)
        if unknown_until is not None and unknown_until > now:
            return None
    with db.connection() as conn:
        row = store.find_key(conn, secret)
    if row is not None:
        with _cache_lock:
            if len(_known) >= _CACHE_LIMIT:
                _known.clear()
            _known[key] = time.monotonic() + _KNOWN_SECONDS
    if ttl:
        with _cache_lock:
            if row is not None:
                if len(_cache) >= _CACHE_LIMIT:
                    _cache.clear()
                _cache[key] = (time.monotonic() + ttl, row)
                _unknown.pop(key, None)
            else:
                if len(_unknown) >= _UNKNOWN_LIMIT:
                    _unknown.clear()
                _unknown[key] = time.monotonic() + ttl
    return row


def recently_verified(secret: str) -> bool:
    """True when this process found `secret` in the database within the last hour (a dictionary lookup, no I/O)."""
    if not secret:
        return False
    until = _known.get(tokens.digest(secret))
    return until is not None and until > time.monotonic()


def clear_cache() -> None:
    """Forget every cached key, known and unknown (tests; after a revocation in this process)."""
    with _cache_lock:
        _cache.clear()
        _unknown.clear()
        _known.clear()


def _check(secret: str, kind: str, also: tuple[str, ...] = ()) -> int:
    row = _lookup(secret)
    if row is None:
        raise AuthError("unknown secret")
    if row["kind"] != kind and row["kind"] not in also:
        if row["kind"] == "report":
            raise AuthError("this is a read-only report key: it reads GET /reports and GET /costs and writes nothing")
        if row["kind"] == "bearer":
            raise AuthError("this is a bearer secret: it must never travel in a URL; use the ingest token"
                            " for GET endpoints, and rotate the bearer secret because it has been exposed")
        raise AuthError("this is an ingest token: it belongs in ?token= of GET /e and GET /bind; this endpoint takes the bearer"
                        " secret" + (" or a read-only report key" if "report" in also else ""))
    expires_at: datetime | None = row["expires_at"]
    if expires_at is not None and expires_at <= clock.now():
        raise AuthError("this secret was rotated out and its grace period has ended")
    return row["space_id"]


def require_bearer() -> int:
    """The space id of the request's `Authorization: Bearer` secret, or AuthError."""
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if not header:
        if request.args.get("token"):
            raise AuthError("POST endpoints take the bearer secret in the Authorization header, not ?token=")
        raise AuthError("missing Authorization: Bearer <secret> header")
    if scheme.lower() != "bearer" or not secret.strip():
        raise AuthError("Authorization header must be 'Bearer <secret>'")
    return _check(secret.strip(), "bearer")


def require_reader() -> int:
    """The space id of the request's `Authorization: Bearer` bearer secret or read-only report key, or AuthError."""
    header = request.headers.get("Authorization", "")
    scheme, _, secret = header.partition(" ")
    if not header:
        raise AuthError("missing Authorization: Bearer <secret> header (the bearer secret or a report key)")
    if scheme.lower() != "bearer" or not secret.strip():
        raise AuthError("Authorization header must be 'Bearer <secret>'")
    return _check(secret.strip(), "bearer", also=("report",))


def require_ingest_token() -> int:
    """The space id of the request's `?token=` ingest token, or AuthError."""
    secret = request.args.get("token", "").strip()
    if not secret:
        raise AuthError("missing token query parameter (the space's ingest token)")
    return _check(secret, "ingest")
