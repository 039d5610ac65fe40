"""The journey of a uid as the tools show it: its click, its events in order, their deliveries.

One read shared by the received log's journey page and the Telegram CLI (`flask telegram journey`).
"""
import psycopg
from psycopg.rows import class_row

from app.conversion.rows import EVENT_FIELDS, RecordedEvent


def find_journey(conn: psycopg.Connection, space_id: int, uid: str) -> dict | None:
    """The journey of `uid` in the space with its click (link, country, fbclid), or None."""
    return conn.execute(
        "SELECT j.uid, j.created_at, j.clicked_at, j.tg_id, j.bound_at, j.event_count, j.deposit_count,"
        " j.revenue, c.created_at AS click_at, c.source AS click_source, c.link_slug, l.name AS link_name,"
        " c.country, c.fbclid, c.campaign_name, c.utm_source, c.utm_campaign"
        " FROM journeys j"
        " LEFT JOIN clicks c ON c.space_id = j.space_id AND c.uid = j.uid"
        # A uid carries its day (xt_uid_day, 0026): the days of clicks before it are skipped.
        "   AND c.created_at >= coalesce(xt_uid_day(%(uid)s), '-infinity')"
        " LEFT JOIN links l ON l.space_id = c.space_id AND l.id = c.link_id"
        " WHERE j.space_id = %(space_id)s AND j.uid = %(uid)s",
        {"space_id": space_id, "uid": uid},
    ).fetchone()


JOURNEY_EVENTS_LIMIT = 200
# Written from the dataclass, so the SELECT and the row type cannot drift apart.
EVENT_COLUMNS = ", ".join(EVENT_FIELDS)
_EVENT = class_row(RecordedEvent)


def list_journey_events(conn: psycopg.Connection, space_id: int, uid: str) -> list[RecordedEvent]:
    """The journey's events in the order they happened (at most JOURNEY_EVENTS_LIMIT)."""
    return conn.cursor(row_factory=_EVENT).execute(
        f"SELECT {EVENT_COLUMNS} FROM events WHERE space_id = %(space_id)s AND uid = %(uid)s"
        " ORDER BY occurred_at_ms, id LIMIT %(limit)s",
        {"space_id": space_id, "uid": uid, "limit": JOURNEY_EVENTS_LIMIT},
    ).fetchall()


def list_event_deliveries(conn: psycopg.Connection, space_id: int, event_ids: list[int]) -> list[dict]:
    """The deliveries of the given events with their destination's name and kind."""
    if not event_ids:
        return []
    return conn.execute(
        "SELECT d.id, d.event_id, d.event, d.status, d.attempts, d.last_attempt_at, d.last_status_code,"
        " d.last_error, d.delivered_at, d.next_attempt_at, t.name AS destination, t.kind,"
        " t.deleted_at IS NOT NULL AS destination_deleted"
        " FROM deliveries d JOIN destinations t ON t.space_id = d.space_id AND t.id = d.destination_id"
        " WHERE d.space_id = %(space_id)s AND d.event_id = ANY(%(event_ids)s)"
        " ORDER BY d.event_id, t.name",
        {"space_id": space_id, "event_ids": event_ids},
    ).fetchall()
