"""SQL for a space's members and its pending invitations.

Every function takes space_id first and filters on it, except the invitation lookup by token
digest: the token is the credential, and the row it finds names its space.
"""
from datetime import datetime

import psycopg

MAX_MEMBERS = 1000
MAX_INVITATIONS = 500


def list_members(conn: psycopg.Connection, space_id: int) -> list[dict]:
    """The space's members with their email, role and when they joined, admins first, then by email."""
    return conn.execute(
        "SELECT m.user_id, u.email, m.role, m.created_at FROM memberships m JOIN users u ON u.id = m.user_id"
        " WHERE m.space_id = %(space_id)s"
        " ORDER BY CASE m.role WHEN 'admin' THEN 0 WHEN 'operator' THEN 1 ELSE 2 END, u.email"
        " LIMIT %(limit)s",
        {"space_id": space_id, "limit": MAX_MEMBERS},
    ).fetchall()


def find_member(conn: psycopg.Connection, space_id: int, user_id: int) -> dict | None:
    """The member `user_id` of the space with email and role, or None when not a member."""
    return conn.execute(
        "SELECT m.user_id, u.email, m.role, m.created_at FROM memberships m JOIN users u ON u.id = m.user_id"
        " WHERE m.space_id = %(space_id)s AND m.user_id = %(user_id)s",
        {"space_id": space_id, "user_id": user_id},
    ).fetchone()


def find_member_by_email(conn: psycopg.Connection, space_id: int, email: str) -> dict | None:
    """The member of the space whose account uses `email` (lower-case), or None."""
    return conn.execute(
        "SELECT m.user_id, u.email, m.role FROM memberships m JOIN users u ON u.id = m.user_id"
        " WHERE m.space_id = %(space_id)s AND u.email = %(email)s",
        {"space_id": space_id, "email": email},
    ).fetchone()


def add_member(conn: psycopg.Connection, space_id: int, user_id: int, role: str, now: datetime) -> bool:
    """Make the user a member with `role`; False (and no change) when they already are one."""
    return conn.execute(
        "INSERT INTO memberships (space_id, user_id, role, created_at)"
        " VALUES (%(space_id)s, %(user_id)s, %(role)s, %(now)s)"
        " ON CONFLICT (space_id, user_id) DO NOTHING",
        {"space_id": space_id, "user_id": user_id, "role": role, "now": now},
    ).rowcount == 1


def lock_admin_ids(conn: psycopg.Connection, space_id: int) -> set[int]:
    """The user ids of the space's admins, their membership rows locked until the transaction ends.

    Two admins demoting or removing each other at once serialise here: the second sees the first's
    change, so a space never loses its last admin.
    """
    return {r["user_id"] for r in conn.execute(
        "SELECT user_id FROM memberships WHERE space_id = %(space_id)s AND role = 'admin'"
        " ORDER BY user_id FOR UPDATE",
        {"space_id": space_id},
    )}


def update_member_role(conn: psycopg.Connection, space_id: int, user_id: int, role: str) -> bool:
    """Change a member's role; False when the user is not a member of the space."""
    return conn.execute(
        "UPDATE memberships SET role = %(role)s WHERE space_id = %(space_id)s AND user_id = %(user_id)s",
        {"space_id": space_id, "user_id": user_id, "role": role},
    ).rowcount == 1


def delete_member(conn: psycopg.Connection, space_id: int, user_id: int) -> bool:
    """Remove a member from the space; False when the user was not a member."""
    return conn.execute(
        "DELETE FROM memberships WHERE space_id = %(space_id)s AND user_id = %(user_id)s",
        {"space_id": space_id, "user_id": user_id},
    ).rowcount == 1


def list_invitations(conn: psycopg.Connection, space_id: int) -> list[dict]:
    """The space's invitations not yet accepted (expired ones too), newest first, with the inviter's email."""
    return conn.execute(
        "SELECT i.id, i.email, i.role, i.created_at, i.expires_at, u.email AS invited_by"
        " FROM invitations i LEFT JOIN users u ON u.id = i.invited_by"
        " WHERE i.space_id = %(space_id)s AND i.accepted_at IS NULL"
        " ORDER BY i.created_at DESC, i.id DESC LIMIT %(limit)s",
        {"space_id": space_id, "limit": MAX_INVITATIONS},
    ).fetchall()


def create_invitation(conn: psycopg.Connection, space_id: int, *, email: str, role: str, token_hash: bytes,
                      invited_by: int, now: datetime, expires_at: datetime) -> dict:
    """Invite `email` with `role`; a pending invitation of the same email gets the new token, role and expiry."""
    return conn.execute(
        "INSERT INTO invitations AS i (space_id, email, role, token_hash, invited_by, created_at, expires_at)"
        " VALUES (%(space_id)s, %(email)s, %(role)s, %(hash)s, %(by)s, %(now)s, %(expires)s)"
        " ON CONFLICT (space_id, email) WHERE accepted_at IS NULL DO UPDATE SET"
        "  role = EXCLUDED.role, token_hash = EXCLUDED.token_hash, invited_by = EXCLUDED.invited_by,"
        "  created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at"
        " RETURNING id, email, role, created_at, expires_at",
        {"space_id": space_id, "email": email, "role": role, "hash": token_hash, "by": invited_by,
         "now": now, "expires": expires_at},
    ).fetchone()


def delete_invitation(conn: psycopg.Connection, space_id: int, invitation_id: int) -> bool:
    """Revoke a pending invitation (its link stops working); False when there is none with that id."""
    return conn.execute(
        "DELETE FROM invitations WHERE space_id = %(space_id)s AND id = %(id)s AND accepted_at IS NULL",
        {"space_id": space_id, "id": invitation_id},
    ).rowcount == 1


def find_invitation_by_token(conn: psycopg.Connection, token_hash: bytes, *, lock: bool = False) -> dict | None:
    """The invitation with this token digest and its space's slug and name, or None.

    With `lock`, the invitation row stays locked until the transaction ends, so two submissions
    of one link cannot both accept it.
    """
    return conn.execute(
        "SELECT i.space_id, i.id, i.email, i.role, i.expires_at, i.accepted_at, s.slug AS space_slug,"
        " s.name AS space_name FROM invitations i JOIN spaces s ON s.id = i.space_id"
        " WHERE i.token_hash = %(hash)s" + (" FOR UPDATE OF i" if lock else ""),
        {"hash": token_hash},
    ).fetchone()


def mark_invitation_accepted(conn: psycopg.Connection, space_id: int, invitation_id: int, now: datetime) -> None:
    """Record that the invitation was used; its link answers "already used" from now on."""
    conn.execute(
        "UPDATE invitations SET accepted_at = %(now)s WHERE space_id = %(space_id)s AND id = %(id)s",
        {"space_id": space_id, "id": invitation_id, "now": now},
    )
