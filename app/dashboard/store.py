"""SQL the deck runs outside the rollups: the live feed's rows."""
import psycopg

FEED_LIMIT = 25


def list_feed_rows(conn: psycopg.Connection, space_id: int, link: str | None, limit: int = FEED_LIMIT) -> list[dict]:
    """The newest events (by inbox id: a backward scan of the primary key) with link and country."""
    return conn.execute(
        "SELECT e.id, e.event, e.uid, e.value, e.currency, e.occurred_at_ms, e.received_at, e.flags, e.test,"
        "       c.link_slug, c.country"
        " FROM events e LEFT JOIN clicks c ON c.space_id = e.space_id AND c.uid = e.uid"
        " WHERE e.space_id = %(space_id)s AND (%(link)s::text IS NULL OR c.link_slug = %(link)s)"
        " ORDER BY e.id DESC LIMIT %(limit)s",
        {"space_id": space_id, "link": link, "limit": max(1, min(limit, 100))},
    ).fetchall()


def list_pushed_rows(conn: psycopg.Connection, keys: list[tuple[int, int]]) -> list[dict]:
    """Feed rows (with link, country and delivery badges) for (space_id, event id) pairs.

    The live hub renders a batch of published events for many spaces at once; every pair carries
    its own space id, taken from the space's channel.
    """
    if not keys:
        return []
    return conn.execute(
        "SELECT e.space_id, e.id, e.event, e.uid, e.value, e.currency, e.occurred_at_ms, e.received_at, e.flags,"
        "       e.test, s.time_zone, c.link_slug, c.country,"
        "       coalesce((SELECT json_agg(json_build_object('id', d.id, 'status', d.status, 'destination', t.name)"
        "                                 ORDER BY t.id)"
        "                 FROM deliveries d JOIN destinations t ON t.space_id = d.space_id AND t.id = d.destination_id"
        "                 WHERE d.space_id = e.space_id AND d.event_id = e.id), '[]') AS badges"
        " FROM unnest(%(spaces)s::bigint[], %(ids)s::bigint[]) AS k(space_id, id)"
        " JOIN events e ON e.space_id = k.space_id AND e.id = k.id"
        " JOIN spaces s ON s.id = e.space_id"
        " LEFT JOIN clicks c ON c.space_id = e.space_id AND c.uid = e.uid",
        {"spaces": [k[0] for k in keys], "ids": [k[1] for k in keys]},
    ).fetchall()


def list_pushed_badges(conn: psycopg.Connection, keys: list[tuple[int, int]]) -> list[dict]:
    """Delivery badges for (space_id, event id) pairs (the hub's batch of delivery status changes)."""
    if not keys:
        return []
    return conn.execute(
        "SELECT d.space_id, d.event_id, d.id, d.status, t.name AS destination"
        " FROM unnest(%(spaces)s::bigint[], %(ids)s::bigint[]) AS k(space_id, event_id)"
        " JOIN deliveries d ON d.space_id = k.space_id AND d.event_id = k.event_id"
        " JOIN destinations t ON t.space_id = d.space_id AND t.id = d.destination_id"
        " ORDER BY d.space_id, d.event_id, t.id",
        {"spaces": [k[0] for k in keys], "ids": [k[1] for k in keys]},
    ).fetchall()


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
