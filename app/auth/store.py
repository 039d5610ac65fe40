"""SQL for API keys, users and memberships."""
from datetime import datetime, timedelta

import psycopg

from app.lib import tokens

KINDS = ("bearer", "ingest")
ROLES = ("viewer", "operator", "admin")


def create_key(conn: psycopg.Connection, space_id: int, kind: str, now: datetime) -> str:
    """Mint a secret of `kind`, store its digest, and return it: the only time it exists in full."""
    secret = tokens.new_secret(kind)
    conn.execute(
        "INSERT INTO api_keys (space_id, kind, secret_hash, hint, created_at)"
        " VALUES (%(space_id)s, %(kind)s, %(hash)s, %(hint)s, %(now)s)",
        {"space_id": space_id, "kind": kind, "hash": tokens.digest(secret), "hint": tokens.hint(secret), "now": now},
    )
    return secret


def rotate_key(conn: psycopg.Connection, space_id: int, kind: str, now: datetime, grace: timedelta) -> str:
    """Replace the space's live secret of `kind`: the old one keeps working for `grace`, then stops.

    Secrets already in their grace period keep their (earlier) expiry.
    """
    conn.execute(
        "UPDATE api_keys SET expires_at = %(expires)s"
        " WHERE space_id = %(space_id)s AND kind = %(kind)s AND expires_at IS NULL",
        {"space_id": space_id, "kind": kind, "expires": now + grace},
    )
    return create_key(conn, space_id, kind, now)


def lock_live_key(conn: psycopg.Connection, space_id: int, kind: str) -> dict | None:
    """The space's live (not rotated-out) secret of `kind` as a hint, locked until the transaction ends; or None."""
    return conn.execute(
        "SELECT hint, created_at FROM api_keys"
        " WHERE space_id = %(space_id)s AND kind = %(kind)s AND expires_at IS NULL"
        " ORDER BY created_at DESC, id DESC LIMIT 1 FOR UPDATE",
        {"space_id": space_id, "kind": kind},
    ).fetchone()


def create_report_key(conn: psycopg.Connection, space_id: int, label: str, now: datetime) -> str:
    """Mint a read-only report key named `label`; return the secret (the only time it exists in full)."""
    secret = tokens.new_secret("report")
    conn.execute(
        "INSERT INTO api_keys (space_id, kind, secret_hash, hint, created_at, label)"
        " VALUES (%(space_id)s, 'report', %(hash)s, %(hint)s, %(now)s, %(label)s)",
        {"space_id": space_id, "hash": tokens.digest(secret), "hint": tokens.hint(secret), "now": now, "label": label},
    )
    return secret


def list_report_keys(conn: psycopg.Connection, space_id: int) -> list[dict]:
    """The space's live report keys (id, label, hint, created_at), newest first."""
    return conn.execute(
        "SELECT id, label, hint, created_at FROM api_keys"
        " WHERE space_id = %(space_id)s AND kind = 'report' AND expires_at IS NULL ORDER BY created_at DESC, id DESC",
        {"space_id": space_id},
    ).fetchall()


def revoke_report_key(conn: psycopg.Connection, space_id: int, key_id: int, now: datetime) -> bool:
    """End one of the space's report keys now; False when the space has no such live key."""
    return conn.execute(
        "UPDATE api_keys SET expires_at = %(now)s"
        " WHERE space_id = %(space_id)s AND id = %(id)s AND kind = 'report' AND expires_at IS NULL",
        {"space_id": space_id, "id": key_id, "now": now},
    ).rowcount > 0


def find_key(conn: psycopg.Connection, secret: str) -> dict | None:
    """The key row whose digest matches `secret` (expired or not), or None."""
    return conn.execute(
        "SELECT space_id, kind, expires_at FROM api_keys WHERE secret_hash = %(hash)s",
        {"hash": tokens.digest(secret)},
    ).fetchone()


def list_keys(conn: psycopg.Connection, space_id: int, now: datetime) -> list[dict]:
    """The space's secrets that still work (live and in grace), newest first, as hints only."""
    return conn.execute(
        "SELECT kind, hint, created_at, expires_at FROM api_keys"
        " WHERE space_id = %(space_id)s AND (expires_at IS NULL OR expires_at > %(now)s)"
        " ORDER BY kind, created_at DESC",
        {"space_id": space_id, "now": now},
    ).fetchall()


def delete_expired_keys(conn: psycopg.Connection, older_than: datetime) -> int:
    """Remove secrets whose grace ended before `older_than`; return how many."""
    return conn.execute(
        "DELETE FROM api_keys WHERE expires_at < %(cutoff)s", {"cutoff": older_than}
    ).rowcount


def create_user(conn: psycopg.Connection, email: str, password_hash: str) -> dict:
    """Insert a user (email lower-cased); raises UniqueViolation when the email exists."""
    return conn.execute(
        "INSERT INTO users (email, password_hash) VALUES (%(email)s, %(hash)s) RETURNING id, email, created_at",
        {"email": email.strip().lower(), "hash": password_hash},
    ).fetchone()


def find_user_by_email(conn: psycopg.Connection, email: str) -> dict | None:
    """The user with this email (case-insensitive), or None."""
    return conn.execute(
        "SELECT id, email, password_hash, created_at FROM users WHERE email = %(email)s",
        {"email": email.strip().lower()},
    ).fetchone()


def set_password(conn: psycopg.Connection, user_id: int, password_hash: str) -> None:
    """Replace the user's password hash (an Argon2id string from app.lib.passwords)."""
    conn.execute("UPDATE users SET password_hash = %(hash)s WHERE id = %(id)s", {"hash": password_hash, "id": user_id})


def set_membership(conn: psycopg.Connection, space_id: int, user_id: int, role: str) -> None:
    """Make the user a member of the space with `role` (insert or change)."""
    conn.execute(
        "INSERT INTO memberships (space_id, user_id, role) VALUES (%(space_id)s, %(user_id)s, %(role)s)"
        " ON CONFLICT (space_id, user_id) DO UPDATE SET role = EXCLUDED.role",
        {"space_id": space_id, "user_id": user_id, "role": role},
    )
