"""SQL for the inbox: events, clicks, binds and their stitching onto journeys.

Stitching is incremental and order-free: stage times take the earliest occurred_at (LEAST
ignores NULL), counts and revenue add. Each event is applied to a journey exactly once: at
insert when its uid is known, or when a bind moves it from "no uid" to a uid (an UPDATE that
only matches uid IS NULL rows can move a row once).
"""
from datetime import datetime

import psycopg
from psycopg.types.json import Jsonb

from app.ingress.parse import EventIn

_RECORD_EVENT = """
WITH ins AS (
    INSERT INTO events (space_id, event, uid, tg_id, eid, value, currency, occurred_at_ms,
                        received_at, source, flags, dedup_key)
    VALUES (%(space_id)s, %(event)s, %(uid)s, %(tg_id)s, %(eid)s, %(value)s, %(currency)s,
            %(occurred_at_ms)s, %(received_at)s, %(source)s, %(flags)s, %(dedup_key)s)
    ON CONFLICT (space_id, dedup_key) DO NOTHING
    RETURNING id, uid
), stitched AS (
    INSERT INTO journeys AS j (space_id, uid, created_at, contact_at, subscribed_at, registration_at,
                               deposit_at, last_event_at, event_count, deposit_count, revenue)
    SELECT %(space_id)s, ins.uid, %(received_at)s,
           CASE WHEN %(event)s = 'contact' THEN %(occurred_at)s END,
           CASE WHEN %(event)s = 'subscribed' THEN %(occurred_at)s END,
           CASE WHEN %(event)s = 'registration' THEN %(occurred_at)s END,
           CASE WHEN %(event)s = 'deposit' THEN %(occurred_at)s END,
           %(occurred_at)s, 1,
           CASE WHEN %(event)s = 'deposit' THEN 1 ELSE 0 END,
           %(revenue)s
    FROM ins WHERE ins.uid IS NOT NULL
    ON CONFLICT (space_id, uid) DO UPDATE SET
        contact_at      = LEAST(j.contact_at, EXCLUDED.contact_at),
        subscribed_at   = LEAST(j.subscribed_at, EXCLUDED.subscribed_at),
        registration_at = LEAST(j.registration_at, EXCLUDED.registration_at),
        deposit_at      = LEAST(j.deposit_at, EXCLUDED.deposit_at),
        last_event_at   = GREATEST(j.last_event_at, EXCLUDED.last_event_at),
        event_count     = j.event_count + 1,
        deposit_count   = j.deposit_count + EXCLUDED.deposit_count,
        revenue         = revenue_add(j.revenue, EXCLUDED.revenue)
    RETURNING 1
)
SELECT id FROM ins
"""


def record_event(conn: psycopg.Connection, space_id: int, event: EventIn, *, uid: str | None,
                 occurred_at: datetime, received_at: datetime, source: str) -> tuple[bool, int]:
    """Insert the event under `uid` and stitch it in one statement; return (is_new, inbox id).

    `uid` is the sent uid, or the one resolved from tg_id; the dedup key always comes from what
    was sent, so a retry dedups even if a bind happened in between. The unique
    (space_id, dedup_key) index decides new vs duplicate; on a duplicate the id of the event
    already recorded is returned.
    """
    revenue = {event.currency: str(event.value)} if event.event == "deposit" and event.value is not None else {}
    params = {
        "space_id": space_id, "event": event.event, "uid": uid, "tg_id": event.tg_id, "eid": event.eid,
        "value": event.value, "currency": event.currency, "occurred_at_ms": event.occurred_at_ms,
        "occurred_at": occurred_at, "received_at": received_at, "source": source, "flags": event.flags,
        "dedup_key": event.dedup_key, "revenue": Jsonb(revenue),
    }
    row = conn.execute(_RECORD_EVENT, params).fetchone()
    if row is not None:
        return True, row["id"]
    existing = conn.execute(
        "SELECT id FROM events WHERE space_id = %(space_id)s AND dedup_key = %(dedup_key)s",
        {"space_id": space_id, "dedup_key": event.dedup_key},
    ).fetchone()
    return False, existing["id"]


def lock_tg_id(conn: psycopg.Connection, space_id: int, tg_id: int) -> None:
    """Serialise binds and uid-less events of one Telegram user (transaction-scoped lock).

    Without it an event resolved to "no uid yet" could commit just after a bind's back-fill ran
    and stay off the journey for good.
    """
    conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%(key)s, 0))", {"key": f"tg:{space_id}:{tg_id}"})


def find_uid_for_tg_id(conn: psycopg.Connection, space_id: int, tg_id: int) -> str | None:
    """The uid most recently bound to this Telegram user in the space, or None."""
    row = conn.execute(
        "SELECT uid FROM journeys WHERE space_id = %(space_id)s AND tg_id = %(tg_id)s"
        " ORDER BY bound_at DESC LIMIT 1",
        {"space_id": space_id, "tg_id": tg_id},
    ).fetchone()
    return row["uid"] if row else None


def bind_uid(conn: psycopg.Connection, space_id: int, uid: str, tg_id: int, now: datetime) -> dict:
    """Compare-and-set the uid's Telegram user; return the journey's tg_id, bound flag and matched flag.

    `bound` is True when this call set the tg_id, or it was already this tg_id (a retry);
    False when the uid is bound to another Telegram user (the first bind wins).
    """
    row = conn.execute(
        "INSERT INTO journeys AS j (space_id, uid, created_at, tg_id, bound_at)"
        " VALUES (%(space_id)s, %(uid)s, %(now)s, %(tg_id)s, %(now)s)"
        " ON CONFLICT (space_id, uid) DO UPDATE SET tg_id = EXCLUDED.tg_id, bound_at = EXCLUDED.bound_at"
        "   WHERE j.tg_id IS NULL"
        " RETURNING tg_id, clicked_at",
        {"space_id": space_id, "uid": uid, "tg_id": tg_id, "now": now},
    ).fetchone()
    if row is None:
        row = conn.execute(
            "SELECT tg_id, clicked_at FROM journeys WHERE space_id = %(space_id)s AND uid = %(uid)s",
            {"space_id": space_id, "uid": uid},
        ).fetchone()
    return {"tg_id": row["tg_id"], "bound": row["tg_id"] == tg_id, "matched": row["clicked_at"] is not None}


_BACKFILL = """
WITH moved AS (
    UPDATE events SET uid = %(uid)s
    WHERE space_id = %(space_id)s AND tg_id = %(tg_id)s AND uid IS NULL
    RETURNING event, value, currency, to_timestamp(occurred_at_ms / 1000.0) AS occurred_at
), revenue AS (
    SELECT coalesce(jsonb_object_agg(currency, total::text), '{}'::jsonb) AS amounts
    FROM (SELECT currency, sum(value) AS total FROM moved
          WHERE event = 'deposit' AND value IS NOT NULL GROUP BY currency) t
)
UPDATE journeys AS j SET
    contact_at      = LEAST(j.contact_at, (SELECT min(occurred_at) FROM moved WHERE event = 'contact')),
    subscribed_at   = LEAST(j.subscribed_at, (SELECT min(occurred_at) FROM moved WHERE event = 'subscribed')),
    registration_at = LEAST(j.registration_at, (SELECT min(occurred_at) FROM moved WHERE event = 'registration')),
    deposit_at      = LEAST(j.deposit_at, (SELECT min(occurred_at) FROM moved WHERE event = 'deposit')),
    last_event_at   = GREATEST(j.last_event_at, (SELECT max(occurred_at) FROM moved)),
    event_count     = j.event_count + (SELECT count(*) FROM moved),
    deposit_count   = j.deposit_count + (SELECT count(*) FROM moved WHERE event = 'deposit'),
    revenue         = revenue_add(j.revenue, (SELECT amounts FROM revenue))
WHERE j.space_id = %(space_id)s AND j.uid = %(uid)s AND EXISTS (SELECT 1 FROM moved)
RETURNING (SELECT count(*) FROM moved) AS moved
"""


def backfill_tg_events(conn: psycopg.Connection, space_id: int, uid: str, tg_id: int) -> int:
    """Move this Telegram user's uid-less events onto `uid` and stitch them; return how many moved."""
    row = conn.execute(_BACKFILL, {"space_id": space_id, "uid": uid, "tg_id": tg_id}).fetchone()
    return row["moved"] if row else 0


_CREATE_CLICK = """
WITH c AS (
    INSERT INTO clicks (space_id, uid, created_at, source, link_slug, fbclid, fbc, fbp, campaign_name,
                        utm_source, utm_medium, utm_campaign, utm_content, utm_term, raw_query,
                        client_ip, user_agent, country)
    VALUES (%(space_id)s, %(uid)s, %(created_at)s, %(source)s, %(link_slug)s, %(fbclid)s, %(fbc)s, %(fbp)s,
            %(campaign_name)s, %(utm_source)s, %(utm_medium)s, %(utm_campaign)s, %(utm_content)s,
            %(utm_term)s, %(raw_query)s, %(client_ip)s, %(user_agent)s, %(country)s)
    RETURNING uid, created_at
)
INSERT INTO journeys AS j (space_id, uid, created_at, clicked_at)
SELECT %(space_id)s, c.uid, c.created_at, c.created_at FROM c
ON CONFLICT (space_id, uid) DO UPDATE SET clicked_at = EXCLUDED.clicked_at
RETURNING uid
"""

CLICK_COLUMNS = ("link_slug", "fbclid", "fbc", "fbp", "campaign_name", "utm_source", "utm_medium",
                 "utm_campaign", "utm_content", "utm_term", "raw_query", "client_ip", "user_agent", "country")


def create_click(conn: psycopg.Connection, space_id: int, uid: str, created_at: datetime, source: str,
                 fields: dict) -> str:
    """Insert a click and open (or complete) its journey; return the uid."""
    params = {name: fields.get(name) for name in CLICK_COLUMNS}
    params.update(space_id=space_id, uid=uid, created_at=created_at, source=source)
    return conn.execute(_CREATE_CLICK, params).fetchone()["uid"]


def count_rejection(conn: psycopg.Connection, space_id: int, day, endpoint: str, status: str) -> None:
    """Add one to the space's refused-request counter for (day, endpoint, status)."""
    conn.execute(
        "INSERT INTO ingress_rejections AS r (space_id, day, endpoint, status, count)"
        " VALUES (%(space_id)s, %(day)s, %(endpoint)s, %(status)s, 1)"
        " ON CONFLICT (space_id, day, endpoint, status) DO UPDATE SET count = r.count + 1",
        {"space_id": space_id, "day": day, "endpoint": endpoint, "status": status},
    )


def get_journey(conn: psycopg.Connection, space_id: int, uid: str) -> dict | None:
    """The journey of `uid` in the space, or None."""
    return conn.execute(
        "SELECT uid, created_at, clicked_at, tg_id, bound_at, contact_at, subscribed_at, registration_at,"
        " deposit_at, last_event_at, event_count, deposit_count, revenue"
        " FROM journeys WHERE space_id = %(space_id)s AND uid = %(uid)s",
        {"space_id": space_id, "uid": uid},
    ).fetchone()
