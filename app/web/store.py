"""SQL for login sessions, the failed-login throttle and the spaces a user belongs to."""
from datetime import datetime, timedelta

import psycopg

ROLE_RANK = {"viewer": 1, "operator": 2, "admin": 3}


def create_session(conn: psycopg.Connection, token_hash: bytes, user_id: int, csrf_token: str,
                   now: datetime, lifetime: timedelta) -> None:
    """Store a new login session under the digest of its cookie token."""
    conn.execute(
        "INSERT INTO user_sessions (token_hash, user_id, csrf_token, created_at, expires_at)"
        " VALUES (%(hash)s, %(user_id)s, %(csrf)s, %(now)s, %(expires)s)",
        {"hash": token_hash, "user_id": user_id, "csrf": csrf_token, "now": now, "expires": now + lifetime},
    )


def find_session(conn: psycopg.Connection, token_hash: bytes, now: datetime) -> dict | None:
    """The unexpired session with this token digest, with its user's email, or None."""
    return conn.execute(
        "SELECT s.user_id, s.csrf_token, s.expires_at, u.email FROM user_sessions s"
        " JOIN users u ON u.id = s.user_id"
        " WHERE s.token_hash = %(hash)s AND s.expires_at > %(now)s",
        {"hash": token_hash, "now": now},
    ).fetchone()


def delete_session(conn: psycopg.Connection, token_hash: bytes) -> None:
    """End a session (logout)."""
    conn.execute("DELETE FROM user_sessions WHERE token_hash = %(hash)s", {"hash": token_hash})


def delete_user_sessions(conn: psycopg.Connection, user_id: int) -> int:
    """End every session of the user (after a password reset); return how many."""
    return conn.execute("DELETE FROM user_sessions WHERE user_id = %(user_id)s", {"user_id": user_id}).rowcount


def delete_expired_sessions(conn: psycopg.Connection, now: datetime) -> int:
    """Remove sessions past their expiry; return how many."""
    return conn.execute("DELETE FROM user_sessions WHERE expires_at <= %(now)s", {"now": now}).rowcount


def delete_stale_failures(conn: psycopg.Connection, cutoff: datetime) -> int:
    """Remove throttle rows whose window started before `cutoff`; return how many."""
    return conn.execute("DELETE FROM login_failures WHERE window_start <= %(cutoff)s", {"cutoff": cutoff}).rowcount


def count_failures(conn: psycopg.Connection, keys: list[str], since: datetime) -> int:
    """The highest failure count among `keys` whose window started after `since`."""
    row = conn.execute(
        "SELECT coalesce(max(failures), 0) AS failures FROM login_failures"
        " WHERE key = ANY(%(keys)s) AND window_start > %(since)s",
        {"keys": keys, "since": since},
    ).fetchone()
    return row["failures"]


def record_failure(conn: psycopg.Connection, keys: list[str], now: datetime, window: timedelta) -> None:
    """Count one failed login against each key, starting a new window when the old one has passed."""
    conn.execute(
        "INSERT INTO login_failures AS f (key, failures, window_start)"
        " SELECT k, 1, %(now)s FROM unnest(%(keys)s::text[]) AS k"
        " ON CONFLICT (key) DO UPDATE SET"
        "  failures = CASE WHEN f.window_start <= %(cutoff)s THEN 1 ELSE f.failures + 1 END,"
        "  window_start = CASE WHEN f.window_start <= %(cutoff)s THEN %(now)s ELSE f.window_start END",
        {"keys": keys, "now": now, "cutoff": now - window},
    )


def clear_failures(conn: psycopg.Connection, key: str) -> None:
    """Forget the failures of one key (after a successful login for that email)."""
    conn.execute("DELETE FROM login_failures WHERE key = %(key)s", {"key": key})


def list_user_spaces(conn: psycopg.Connection, user_id: int) -> list[dict]:
    """The spaces the user is a member of, with the role, by name."""
    return conn.execute(
        "SELECT s.id, s.slug, s.name, s.time_zone, s.currency, m.role FROM memberships m"
        " JOIN spaces s ON s.id = m.space_id WHERE m.user_id = %(user_id)s ORDER BY s.name, s.id",
        {"user_id": user_id},
    ).fetchall()


def find_member_space(conn: psycopg.Connection, user_id: int, slug: str) -> dict | None:
    """The space with this slug and the user's role in it, or None when the user is not a member."""
    return conn.execute(
        "SELECT s.id, s.slug, s.name, s.time_zone, s.currency, m.role FROM spaces s"
        " JOIN memberships m ON m.space_id = s.id AND m.user_id = %(user_id)s WHERE s.slug = %(slug)s",
        {"user_id": user_id, "slug": slug},
    ).fetchone()
