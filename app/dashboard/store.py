"""SQL the deck runs outside the rollups: the live feed's rows."""
import psycopg

FEED_LIMIT = 25


def list_feed_rows(conn: psycopg.Connection, space_id: int, link: str | None, limit: int = FEED_LIMIT) -> list[dict]:
    """The newest events (by inbox id: a backward scan of the primary key) with link and country."""
    return conn.execute(
        "SELECT e.id, e.event, e.uid, e.value, e.currency, e.occurred_at_ms, e.received_at, e.flags,"
        "       c.link_slug, c.country"
        " FROM events e LEFT JOIN clicks c ON c.space_id = e.space_id AND c.uid = e.uid"
        " WHERE e.space_id = %(space_id)s AND (%(link)s::text IS NULL OR c.link_slug = %(link)s)"
        " ORDER BY e.id DESC LIMIT %(limit)s",
        {"space_id": space_id, "link": link, "limit": max(1, min(limit, 100))},
    ).fetchall()


def find_feed_row(conn: psycopg.Connection, space_id: int, event_id: int) -> dict | None:
    """One event as a feed row (with link, country and its delivery badges), or None."""
    return conn.execute(
        "SELECT e.id, e.event, e.uid, e.value, e.currency, e.occurred_at_ms, e.received_at, e.flags,"
        "       c.link_slug, c.country,"
        "       coalesce((SELECT json_agg(json_build_object('id', d.id, 'status', d.status, 'destination', t.name)"
        "                                 ORDER BY t.id)"
        "                 FROM deliveries d JOIN destinations t ON t.space_id = d.space_id AND t.id = d.destination_id"
        "                 WHERE d.space_id = e.space_id AND d.event_id = e.id), '[]') AS badges"
        " FROM events e LEFT JOIN clicks c ON c.space_id = e.space_id AND c.uid = e.uid"
        " WHERE e.space_id = %(space_id)s AND e.id = %(id)s",
        {"space_id": space_id, "id": event_id},
    ).fetchone()


def list_event_badges(conn: psycopg.Connection, space_id: int, event_ids: list[int]) -> list[dict]:
    """Delivery status per destination for the given events (the feed's badges)."""
    if not event_ids:
        return []
    return conn.execute(
        "SELECT d.event_id, d.id, d.status, t.name AS destination FROM deliveries d"
        " JOIN destinations t ON t.space_id = d.space_id AND t.id = d.destination_id"
        " WHERE d.space_id = %(space_id)s AND d.event_id = ANY(%(ids)s) ORDER BY d.event_id, t.id",
        {"space_id": space_id, "ids": event_ids[:100]},
    ).fetchall()
