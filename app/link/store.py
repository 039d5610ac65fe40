"""SQL for links, custom landing domains and the landing's lookups."""
from datetime import date, datetime

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from app.link.parse import LinkIn
from app.link.rows import LINK_FIELDS, Link

# Written from the dataclass, so the SELECT and the row type cannot drift apart.
LINK_COLUMNS = ", ".join(LINK_FIELDS)
_LINK = class_row(Link)
DOMAIN_COLUMNS = "space_id, hostname, created_at, verified_at, checked_at, check_note"
MAX_LIST = 1000


class NotFound(LookupError):
    """No such row in this scope."""


class SlugTaken(ValueError):
    """Another link (in any space, archived or not) already has this slug."""


class HostnameTaken(ValueError):
    """Another space has already verified this hostname."""


def create_link(conn: psycopg.Connection, space_id: int, link: LinkIn, now: datetime) -> Link:
    """Insert a link; SlugTaken when the slug is in use anywhere (landings share the tracker's hosts).

    The slug's row in global_names (the cross-space directory) decides: its primary key refuses a
    slug another link holds, in any space.
    """
    try:
        with conn.transaction():
            conn.execute("INSERT INTO global_names (kind, name, space_id) VALUES ('link_slug', %(slug)s, %(space_id)s)",
                         {"slug": link.slug, "space_id": space_id})
            return conn.cursor(row_factory=_LINK).execute(
                "INSERT INTO links (space_id, slug, name, kind, target, mode, emit_contact, campaign_defaults,"
                " created_at, updated_at) VALUES (%(space_id)s, %(slug)s, %(name)s, %(kind)s, %(target)s, %(mode)s,"
                " %(emit_contact)s, %(defaults)s, %(now)s, %(now)s) RETURNING " + LINK_COLUMNS,
                {"space_id": space_id, "slug": link.slug, "name": link.name, "kind": link.kind, "target": link.target,
                 "mode": link.mode, "emit_contact": link.emit_contact, "defaults": Jsonb(link.campaign_defaults),
                 "now": now},
            ).fetchone()
    except psycopg.errors.UniqueViolation:
        raise SlugTaken(f"slug {link.slug!r} is already used by another link") from None


def update_link(conn: psycopg.Connection, space_id: int, slug: str, link: LinkIn, now: datetime) -> Link:
    """Rewrite every field of the space's link `slug` but the slug itself (running ads use it); NotFound if none."""
    row = conn.cursor(row_factory=_LINK).execute(
        "UPDATE links SET name = %(name)s, kind = %(kind)s, target = %(target)s, mode = %(mode)s,"
        " emit_contact = %(emit_contact)s, campaign_defaults = %(defaults)s, updated_at = %(now)s"
        " WHERE space_id = %(space_id)s AND slug = %(slug)s RETURNING " + LINK_COLUMNS,
        {"space_id": space_id, "slug": slug, "name": link.name, "kind": link.kind, "target": link.target,
         "mode": link.mode, "emit_contact": link.emit_contact, "defaults": Jsonb(link.campaign_defaults), "now": now},
    ).fetchone()
    if row is None:
        raise NotFound(f"no link {slug!r}")
    return row


def set_link_archived(conn: psycopg.Connection, space_id: int, slug: str, archived: bool, now: datetime) -> Link:
    """Archive (keeping the first archive time) or restore the space's link `slug`; NotFound if none.

    The row stays, so an archived link keeps its clicks and its slug stays taken.
    """
    row = conn.cursor(row_factory=_LINK).execute(
        "UPDATE links SET archived_at = CASE WHEN %(archived)s THEN coalesce(archived_at, %(now)s) END,"
        " updated_at = %(now)s WHERE space_id = %(space_id)s AND slug = %(slug)s RETURNING " + LINK_COLUMNS,
        {"space_id": space_id, "slug": slug, "archived": archived, "now": now},
    ).fetchone()
    if row is None:
        raise NotFound(f"no link {slug!r}")
    return row


def list_links(conn: psycopg.Connection, space_id: int, limit: int = MAX_LIST) -> list[Link]:
    """The space's links, archived ones included, newest first (at most MAX_LIST)."""
    return conn.cursor(row_factory=_LINK).execute(
        "SELECT " + LINK_COLUMNS + " FROM links WHERE space_id = %(space_id)s ORDER BY id DESC LIMIT %(limit)s",
        {"space_id": space_id, "limit": max(1, min(limit, MAX_LIST))},
    ).fetchall()


def count_clicks_by_link(conn: psycopg.Connection, space_id: int, slugs: list[str], first_day: date,
                         last_day: date) -> dict[str, int]:
    """Clicks per link slug over whole days of the space's time zone, from the folded day rollups.

    One index range per slug (the rollup key leads with the link), so the cost follows the
    number of links shown and days asked for, never the space's history.
    """
    rows = conn.execute(
        "SELECT link_slug, sum(n) AS n FROM rollup_days"
        " WHERE space_id = %(space_id)s AND link_slug = ANY(%(slugs)s) AND day BETWEEN %(first)s AND %(last)s"
        "   AND kind = 'click' GROUP BY link_slug",
        {"space_id": space_id, "slugs": slugs[:MAX_LIST], "first": first_day, "last": last_day},
    ).fetchall()
    return {row["link_slug"]: int(row["n"]) for row in rows}


def find_link_by_slug(conn: psycopg.Connection, space_id: int, slug: str) -> Link | None:
    """The space's link with this slug, or None."""
    return conn.cursor(row_factory=_LINK).execute(
        "SELECT " + LINK_COLUMNS + " FROM links WHERE space_id = %(space_id)s AND slug = %(slug)s",
        {"space_id": space_id, "slug": slug},
    ).fetchone()


def find_landing_link(conn: psycopg.Connection, slug: str, space_id: int | None) -> Link | None:
    """The live link a landing serves at /<slug>: any space's on the tracker's hosts (space_id None), else that space's.

    Archived links are not served (None), exactly like unknown slugs.
    """
    return conn.cursor(row_factory=_LINK).execute(
        "SELECT " + LINK_COLUMNS + " FROM links"
        " WHERE space_id = coalesce(%(space_id)s::bigint,"
        "   (SELECT space_id FROM global_names WHERE kind = 'link_slug' AND name = %(slug)s))"
        " AND slug = %(slug)s AND archived_at IS NULL",
        {"slug": slug, "space_id": space_id},
    ).fetchone()


def create_domain(conn: psycopg.Connection, space_id: int, hostname: str, now: datetime) -> dict:
    """Add a landing hostname to the space (unverified); an existing one is returned unchanged."""
    conn.execute(
        "INSERT INTO domains (space_id, hostname, created_at) VALUES (%(space_id)s, %(hostname)s, %(now)s)"
        " ON CONFLICT (space_id, hostname) DO NOTHING",
        {"space_id": space_id, "hostname": hostname, "now": now},
    )
    return get_domain(conn, space_id, hostname)


def find_domain(conn: psycopg.Connection, space_id: int, hostname: str) -> dict | None:
    """The space's domain row, or None."""
    return conn.execute(
        "SELECT " + DOMAIN_COLUMNS + " FROM domains WHERE space_id = %(space_id)s AND hostname = %(hostname)s",
        {"space_id": space_id, "hostname": hostname},
    ).fetchone()


def hostname_verified_elsewhere(conn: psycopg.Connection, space_id: int, hostname: str) -> bool:
    """Whether a space other than `space_id` has verified `hostname` (only yes or no: never which space)."""
    return conn.execute(
        "SELECT EXISTS (SELECT 1 FROM global_names WHERE kind = 'hostname' AND name = %(hostname)s"
        " AND space_id <> %(space_id)s) AS taken",
        {"space_id": space_id, "hostname": hostname},
    ).fetchone()["taken"]


def get_domain(conn: psycopg.Connection, space_id: int, hostname: str) -> dict:
    """The space's domain row, or NotFound."""
    row = find_domain(conn, space_id, hostname)
    if row is None:
        raise NotFound(f"no domain {hostname!r}")
    return row


def list_domains(conn: psycopg.Connection, space_id: int) -> list[dict]:
    """The space's landing hostnames, alphabetically (at most MAX_LIST)."""
    return conn.execute(
        "SELECT " + DOMAIN_COLUMNS + " FROM domains WHERE space_id = %(space_id)s ORDER BY hostname LIMIT %(limit)s",
        {"space_id": space_id, "limit": MAX_LIST},
    ).fetchall()


def update_domain_check(conn: psycopg.Connection, space_id: int, hostname: str, *, passed: bool, note: str,
                        now: datetime) -> dict:
    """Record a DNS check: a pass verifies the domain (keeping the first verification time), a failure unverifies it.

    HostnameTaken when another space verified the same hostname first: a pass claims the
    hostname's row in global_names, whose primary key decides between spaces; a failure releases it.
    """
    params = {"space_id": space_id, "hostname": hostname}
    try:
        with conn.transaction():
            if passed and find_domain(conn, space_id, hostname) is not None:
                conn.execute("INSERT INTO global_names (kind, name, space_id) VALUES ('hostname', %(hostname)s,"
                             " %(space_id)s) ON CONFLICT (kind, name) DO NOTHING", params)
                owner = conn.execute("SELECT space_id FROM global_names WHERE kind = 'hostname' AND name = %(hostname)s",
                                     params).fetchone()
                if owner["space_id"] != space_id:
                    raise HostnameTaken(f"{hostname} is already verified by another space")
            elif not passed:
                conn.execute("DELETE FROM global_names WHERE kind = 'hostname' AND name = %(hostname)s"
                             " AND space_id = %(space_id)s", params)
            row = conn.execute(
                "UPDATE domains SET checked_at = %(now)s, check_note = %(note)s,"
                " verified_at = CASE WHEN %(passed)s THEN coalesce(verified_at, %(now)s) END"
                " WHERE space_id = %(space_id)s AND hostname = %(hostname)s RETURNING " + DOMAIN_COLUMNS,
                {"space_id": space_id, "hostname": hostname, "passed": passed, "note": note, "now": now},
            ).fetchone()
    except psycopg.errors.UniqueViolation:
        raise HostnameTaken(f"{hostname} is already verified by another space") from None
    if row is None:
        raise NotFound(f"no domain {hostname!r}")
    return row


def delete_domain(conn: psycopg.Connection, space_id: int, hostname: str) -> bool:
    """Remove a landing hostname from the space (releasing it when the space had verified it); False when none."""
    conn.execute("DELETE FROM global_names WHERE kind = 'hostname' AND name = %(hostname)s AND space_id = %(space_id)s",
                 {"space_id": space_id, "hostname": hostname})
    return conn.execute(
        "DELETE FROM domains WHERE space_id = %(space_id)s AND hostname = %(hostname)s",
        {"space_id": space_id, "hostname": hostname},
    ).rowcount == 1


def find_verified_domain_space(conn: psycopg.Connection, hostname: str) -> int | None:
    """The space that verified `hostname`, or None (the landing's host routing)."""
    row = conn.execute(
        "SELECT space_id FROM global_names WHERE kind = 'hostname' AND name = %(hostname)s",
        {"hostname": hostname},
    ).fetchone()
    return row["space_id"] if row else None


def clear_click_addresses(conn: psycopg.Connection, older_than: datetime) -> int:
    """Blank client IP and user agent of clicks created before `older_than` (retention); return how many."""
    return conn.execute(
        "UPDATE clicks SET client_ip = NULL, user_agent = NULL"
        " WHERE created_at < %(cutoff)s AND (client_ip IS NOT NULL OR user_agent IS NOT NULL)",
        {"cutoff": older_than},
    ).rowcount
