"""SQL for spaces."""
import re
import unicodedata

import psycopg


class NotFound(LookupError):
    """No such row in this scope."""


# Slugs a space may not take because a fixed page sits at that path (/spaces/new).
RESERVED_SLUGS = frozenset({"new"})
NAME_MAX = 200


def slugify(name: str) -> str:
    """A URL-safe slug from a display name ('Pocket Funnel #1' → 'pocket-funnel-1')."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:48]
    return slug or "space"


def create_space(conn: psycopg.Connection, name: str, *, time_zone: str = "UTC", currency: str = "USD") -> dict:
    """Insert a space under a slug derived from its name, suffixed -2, -3 … when taken."""
    base = slugify(name)
    taken = {r["slug"] for r in conn.execute(
        "SELECT slug FROM spaces WHERE slug = %(base)s OR slug LIKE %(pattern)s",
        {"base": base, "pattern": base + "-%"},
    )}
    taken |= RESERVED_SLUGS
    slug, n = base, 1
    while slug in taken:
        n += 1
        slug = f"{base}-{n}"
    return conn.execute(
        "INSERT INTO spaces (slug, name, time_zone, currency) VALUES (%(slug)s, %(name)s, %(tz)s, %(cur)s)"
        " RETURNING id, slug, name, time_zone, currency, created_at",
        {"slug": slug, "name": name, "tz": time_zone, "cur": currency},
    ).fetchone()


def get_space_by_slug(conn: psycopg.Connection, slug: str) -> dict:
    """The space with this slug, or NotFound."""
    row = conn.execute(
        "SELECT id, slug, name, time_zone, currency, created_at FROM spaces WHERE slug = %(slug)s",
        {"slug": slug},
    ).fetchone()
    if row is None:
        raise NotFound(f"no space {slug!r}")
    return row


def get_space(conn: psycopg.Connection, space_id: int) -> dict:
    """The space with this id (id, slug, name, time_zone, currency); NotFound when there is none."""
    row = conn.execute("SELECT id, slug, name, time_zone, currency FROM spaces WHERE id = %(id)s",
                       {"id": space_id}).fetchone()
    if row is None:
        raise NotFound(f"no space {space_id}")
    return row


def list_spaces(conn: psycopg.Connection) -> list[dict]:
    """Every space, oldest first (operator CLI only; users see their memberships)."""
    return conn.execute("SELECT id, slug, name, time_zone, currency, created_at FROM spaces ORDER BY id").fetchall()


def update_space(conn: psycopg.Connection, space_id: int, *, name: str, time_zone: str, currency: str) -> dict:
    """Rename the space and set its time zone and main currency (the slug never changes)."""
    row = conn.execute(
        "UPDATE spaces SET name = %(name)s, time_zone = %(tz)s, currency = %(cur)s WHERE id = %(space_id)s"
        " RETURNING id, slug, name, time_zone, currency, created_at",
        {"space_id": space_id, "name": name, "tz": time_zone, "cur": currency},
    ).fetchone()
    if row is None:
        raise NotFound(f"no space {space_id}")
    return row


def database_knows_time_zone(conn: psycopg.Connection, name: str) -> bool:
    """True when PostgreSQL can use `name` (the rollups cut days with AT TIME ZONE in SQL)."""
    return conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = %(name)s) AS known", {"name": name}
    ).fetchone()["known"]
