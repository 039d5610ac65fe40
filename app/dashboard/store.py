"""SQL the deck runs outside the rollups: the live feed's rows."""
import psycopg

FEED_LIMIT = 25


def list_feed_rows(conn: psycopg.Connection, space_id: int, link: str | None, limit: int = FEED_LIMIT) -> list[dict]:
    """The newest events (received order) with their click's link and country, newest first."""
    return conn.execute(
        "SELECT e.id, e.event, e.uid, e.value, e.currency, e.occurred_at_ms, e.received_at, e.flags,"
        "       c.link_slug, c.country"
        " FROM events e LEFT JOIN clicks c ON c.space_id = e.space_id AND c.uid = e.uid"
        " WHERE e.space_id = %(space_id)s AND (%(link)s::text IS NULL OR c.link_slug = %(link)s)"
        " ORDER BY e.received_at DESC, e.id DESC LIMIT %(limit)s",
        {"space_id": space_id, "link": link, "limit": max(1, min(limit, 100))},
    ).fetchall()


def find_feed_row(conn: psycopg.Connection, space_id: int, event_id: int) -> dict | None:
    """One event as a feed row (with link and country), or None."""
    return conn.execute(
        "SELECT e.id, e.event, e.uid, e.value, e.currency, e.occurred_at_ms, e.received_at, e.flags,"
        "       c.link_slug, c.country"
        " FROM events e LEFT JOIN clicks c ON c.space_id = e.space_id AND c.uid = e.uid"
        " WHERE e.space_id = %(space_id)s AND e.id = %(id)s",
        {"space_id": space_id, "id": event_id},
    ).fetchone()
