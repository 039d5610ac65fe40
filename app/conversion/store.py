"""SQL for the inbox: events, clicks, binds and their stitching onto journeys.

Stitching is incremental and order-free: stage times take the earliest occurred_at (LEAST
ignores NULL), counts and revenue add. Each event is applied to a journey exactly once: at
insert when its uid is known, or when a bind moves it from "no uid" to a uid (an UPDATE that
only matches uid IS NULL rows can move a row once).
"""
import json
from dataclasses import dataclass
from datetime import datetime

import psycopg

from app.conversion.events import EventIn

# One statement records a whole batch of events (one or many, from any spaces: every row carries
# its space_id from the credential that sent it) and stitches them: the primary key of
# event_keys (space_id, dedup_key) alone decides new vs duplicate, and journeys get one aggregated
# upsert per uid. Input and journey rows are sorted so concurrent batches take their row locks
# in the same order and cannot deadlock.
_RECORD_EVENTS = """
WITH input AS (
    SELECT * FROM jsonb_to_recordset(%(batch)s::jsonb) AS t(
        space_id bigint, event text, uid text, tg_id bigint, eid text, value numeric, currency text,
        occurred_at_ms bigint, received_at timestamptz, source text, flags text, dedup_key text, test boolean)
), keys AS (
    -- The dedup decision: events is partitioned by day, so the unique key lives in event_keys;
    -- only the keys this statement inserted become events (ids drawn from events' own sequence).
    INSERT INTO event_keys (space_id, dedup_key, event_id, received_at)
    SELECT space_id, dedup_key, nextval('events_id_seq'), received_at
    FROM input ORDER BY space_id, dedup_key
    ON CONFLICT (space_id, dedup_key) DO NOTHING
    RETURNING space_id, dedup_key, event_id
), ins AS (
    INSERT INTO events (space_id, id, event, uid, tg_id, eid, value, currency, occurred_at_ms,
                        received_at, source, flags, dedup_key, test)
    OVERRIDING SYSTEM VALUE
    SELECT DISTINCT ON (i.space_id, i.dedup_key)
           i.space_id, k.event_id, i.event, i.uid, i.tg_id, i.eid, i.value, i.currency, i.occurred_at_ms,
           i.received_at, i.source, string_to_array(i.flags, ','), i.dedup_key, coalesce(i.test, false)
    FROM keys k JOIN input i ON i.space_id = k.space_id AND i.dedup_key = k.dedup_key
    ORDER BY i.space_id, i.dedup_key
    RETURNING space_id, id, dedup_key, uid, event, value, currency, occurred_at_ms, received_at, test
), stitch AS (
    -- Test events are recorded and delivered but never stitched: journeys hold real progress only.
    SELECT space_id, uid, event, value, currency, received_at,
           to_timestamp(occurred_at_ms / 1000.0) AS occurred_at
    FROM ins WHERE uid IS NOT NULL AND NOT test
), revenue AS (
    SELECT space_id, uid, jsonb_object_agg(currency, total::text) AS amounts
    FROM (SELECT space_id, uid, currency, sum(value) AS total FROM stitch
          WHERE event = 'deposit' AND value IS NOT NULL GROUP BY space_id, uid, currency) sums
    GROUP BY space_id, uid
), stitched AS (
    INSERT INTO journeys AS j (space_id, uid, created_at, contact_at, subscribed_at, registration_at,
                               deposit_at, last_event_at, event_count, deposit_count, revenue)
    SELECT s.space_id, s.uid, min(s.received_at),
           min(s.occurred_at) FILTER (WHERE s.event = 'contact'),
           min(s.occurred_at) FILTER (WHERE s.event = 'subscribed'),
           min(s.occurred_at) FILTER (WHERE s.event = 'registration'),
           min(s.occurred_at) FILTER (WHERE s.event = 'deposit'),
           max(s.occurred_at), count(*), count(*) FILTER (WHERE s.event = 'deposit'),
           coalesce(min(r.amounts::text)::jsonb, '{}'::jsonb)
    FROM stitch s LEFT JOIN revenue r ON r.space_id = s.space_id AND r.uid = s.uid
    GROUP BY s.space_id, s.uid
    ORDER BY s.space_id, s.uid
    ON CONFLICT (space_id, uid) DO UPDATE SET
        contact_at      = LEAST(j.contact_at, EXCLUDED.contact_at),
        subscribed_at   = LEAST(j.subscribed_at, EXCLUDED.subscribed_at),
        registration_at = LEAST(j.registration_at, EXCLUDED.registration_at),
        deposit_at      = LEAST(j.deposit_at, EXCLUDED.deposit_at),
        last_event_at   = GREATEST(j.last_event_at, EXCLUDED.last_event_at),
        event_count     = j.event_count + EXCLUDED.event_count,
        deposit_count   = j.deposit_count + EXCLUDED.deposit_count,
        revenue         = CASE WHEN EXCLUDED.revenue = '{}'::jsonb THEN j.revenue
                               ELSE revenue_add(j.revenue, EXCLUDED.revenue) END
    RETURNING 1
), fanout AS (
    -- The outbox: one delivery per (new event, destination whose event map maps it), written by
    -- the same statement (so the same transaction) as the event; the unique index on
    -- (space_id, event_id, destination_id) forbids a second fan-out. No destinations: one index probe.
    -- Test events go only to destinations that accept test traffic; deleted destinations get nothing.
    INSERT INTO deliveries (space_id, event_id, destination_id, event, created_at, next_attempt_at, test)
    SELECT ins.space_id, ins.id, d.id, ins.event, ins.received_at,
           CASE WHEN d.paused_at IS NULL THEN ins.received_at ELSE 'infinity'::timestamptz END, ins.test
    FROM ins JOIN destinations d ON d.space_id = ins.space_id AND d.event_map ? ins.event
     AND d.deleted_at IS NULL AND (NOT ins.test OR d.accept_test)
    ORDER BY ins.space_id, ins.id, d.id
    ON CONFLICT (space_id, event_id, destination_id) DO NOTHING
    RETURNING 1
)
SELECT space_id, dedup_key, id FROM ins
"""


@dataclass
class InboxItem:
    """One accepted event waiting to be recorded: what was sent, and the uid to stitch it to.

    `uid` is the sent uid, or the one resolved from tg_id; the dedup key always comes from what
    was sent, so a retry dedups even if a bind happened in between.
    """
    space_id: int
    event: EventIn
    uid: str | None
    received_at: datetime
    source: str


def record_events(conn: psycopg.Connection, items: list[InboxItem]) -> list[tuple[bool, int]]:
    """Record and stitch a batch in one statement; return (is_new, inbox id) per item, in order.

    On a duplicate (already stored, or repeated within the batch) the id of the event recorded
    first is returned.
    """
    # One JSON parameter for the whole batch: json.dumps runs in C, where a dozen array
    # parameters would be dumped element by element in Python.
    batch = json.dumps([{
        "space_id": item.space_id, "event": item.event.event, "uid": item.uid, "tg_id": item.event.tg_id,
        "eid": item.event.eid, "value": None if item.event.value is None else str(item.event.value),
        "currency": item.event.currency, "occurred_at_ms": item.event.occurred_at_ms,
        "received_at": item.received_at.isoformat(), "source": item.source, "flags": ",".join(item.event.flags),
        "dedup_key": item.event.dedup_key, "test": item.event.test,
    } for item in items], separators=(",", ":"))
    inserted = {(r["space_id"], r["dedup_key"]): r["id"] for r in conn.execute(_RECORD_EVENTS, {"batch": batch})}
    results: list[tuple[bool, int] | None] = []
    claimed: set[tuple[int, str]] = set()
    missing: list[tuple[int, str]] = []
    for item in items:
        key = (item.space_id, item.event.dedup_key)
        if key in inserted and key not in claimed:
            claimed.add(key)
            results.append((True, inserted[key]))
        else:
            results.append(None)
            missing.append(key)
    if missing:
        existing = {(r["space_id"], r["dedup_key"]): r["id"] for r in conn.execute(
            "SELECT e.space_id, e.dedup_key, e.event_id AS id FROM event_keys e"
            " JOIN unnest(%(space_id)s::bigint[], %(dedup_key)s::text[]) AS k(space_id, dedup_key)"
            "   ON e.space_id = k.space_id AND e.dedup_key = k.dedup_key",
            {"space_id": [k[0] for k in missing], "dedup_key": [k[1] for k in missing]})}
        results = [r if r is not None else (False, existing[(item.space_id, item.event.dedup_key)])
                   for r, item in zip(results, items)]
    return results


def record_event(conn: psycopg.Connection, space_id: int, event: EventIn, *, uid: str | None,
                 received_at: datetime, source: str, occurred_at: datetime | None = None) -> tuple[bool, int]:
    """Record and stitch one event; return (is_new, inbox id). See `record_events`."""
    return record_events(conn, [InboxItem(space_id, event, uid, received_at, source)])[0]


def find_next_due(conn: psycopg.Connection, now: datetime) -> bool:
    """True when some delivery (of any space) in the outbox is due: a retry, a manual request, or an expired lease."""
    return conn.execute(
        "SELECT EXISTS (SELECT 1 FROM deliveries WHERE next_attempt_at <= %(now)s) AS due", {"now": now},
    ).fetchone()["due"]


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
    RETURNING event, value, currency, to_timestamp(occurred_at_ms / 1000.0) AS occurred_at, test
), counted AS (
    SELECT event, value, currency, occurred_at FROM moved WHERE NOT test
), revenue AS (
    SELECT coalesce(jsonb_object_agg(currency, total::text), '{}'::jsonb) AS amounts
    FROM (SELECT currency, sum(value) AS total FROM counted
          WHERE event = 'deposit' AND value IS NOT NULL GROUP BY currency) t
)
UPDATE journeys AS j SET
    contact_at      = LEAST(j.contact_at, (SELECT min(occurred_at) FROM counted WHERE event = 'contact')),
    subscribed_at   = LEAST(j.subscribed_at, (SELECT min(occurred_at) FROM counted WHERE event = 'subscribed')),
    registration_at = LEAST(j.registration_at, (SELECT min(occurred_at) FROM counted WHERE event = 'registration')),
    deposit_at      = LEAST(j.deposit_at, (SELECT min(occurred_at) FROM counted WHERE event = 'deposit')),
    last_event_at   = GREATEST(j.last_event_at, (SELECT max(occurred_at) FROM counted)),
    event_count     = j.event_count + (SELECT count(*) FROM counted),
    deposit_count   = j.deposit_count + (SELECT count(*) FROM counted WHERE event = 'deposit'),
    revenue         = revenue_add(j.revenue, (SELECT amounts FROM revenue))
WHERE j.space_id = %(space_id)s AND j.uid = %(uid)s AND EXISTS (SELECT 1 FROM moved)
RETURNING (SELECT count(*) FROM moved) AS moved
"""


def backfill_tg_events(conn: psycopg.Connection, space_id: int, uid: str, tg_id: int) -> int:
    """Move this Telegram user's uid-less events onto `uid` and stitch them; return how many moved."""
    row = conn.execute(_BACKFILL, {"space_id": space_id, "uid": uid, "tg_id": tg_id}).fetchone()
    return row["moved"] if row else 0


CLICK_COLUMNS = ("link_id", "link_slug", "fbclid", "fbc", "fbp", "campaign_name", "campaign_id", "adset_name",
                 "adset_id", "ad_name", "ad_id", "utm_source", "utm_medium", "utm_campaign", "utm_content",
                 "utm_term", "raw_query", "referrer", "client_ip", "user_agent", "country", "flags")

# One statement stores a batch of clicks (from any spaces) and opens or completes their journeys,
# in (space_id, uid) order so concurrent batches lock journey rows in the same order. The batch
# travels as one JSON array: a single parameter costs far less to send than one array per column.
_CREATE_CLICKS = """
WITH input AS (
    SELECT * FROM jsonb_to_recordset(%(clicks)s::jsonb) AS t(
        space_id bigint, uid text, created_at timestamptz, source text, link_id bigint, link_slug text, fbclid text,
        fbc text, fbp text, campaign_name text, campaign_id text, adset_name text, adset_id text, ad_name text,
        ad_id text, utm_source text, utm_medium text, utm_campaign text, utm_content text, utm_term text,
        raw_query text, referrer text, client_ip inet, user_agent text, country text, flags text[])
), c AS (
    INSERT INTO clicks (space_id, uid, created_at, source, link_id, link_slug, fbclid, fbc, fbp, campaign_name,
                        campaign_id, adset_name, adset_id, ad_name, ad_id, utm_source, utm_medium,
                        utm_campaign, utm_content, utm_term, raw_query, referrer, client_ip, user_agent, country,
                        flags)
    SELECT space_id, uid, created_at, source, link_id, link_slug, fbclid, fbc, fbp,
           campaign_name, campaign_id, adset_name, adset_id, ad_name, ad_id, utm_source, utm_medium, utm_campaign,
           utm_content, utm_term, raw_query, referrer, client_ip, user_agent, country, coalesce(flags, '{}')
    FROM input ORDER BY space_id, uid
    RETURNING space_id, uid, created_at
)
INSERT INTO journeys AS j (space_id, uid, created_at, clicked_at)
SELECT space_id, uid, created_at, created_at FROM c ORDER BY space_id, uid
ON CONFLICT (space_id, uid) DO UPDATE SET clicked_at = EXCLUDED.clicked_at
"""


@dataclass
class ClickIn:
    """One click to store: its space, minted uid, time, origin ('landing' or 'api') and CLICK_COLUMNS fields."""
    space_id: int
    uid: str
    created_at: datetime
    source: str
    fields: dict


def create_clicks(conn: psycopg.Connection, clicks: list[ClickIn]) -> None:
    """Insert a batch of clicks and open (or complete) their journeys, in one statement.

    The landing's writer sends its clicks and their contact events in one transaction.
    """
    rows = []
    for click in clicks:
        row = {name: click.fields.get(name) for name in CLICK_COLUMNS}
        row.update(space_id=click.space_id, uid=click.uid, source=click.source,
                   created_at=click.created_at.isoformat())
        rows.append(row)
    conn.execute(_CREATE_CLICKS, {"clicks": json.dumps(rows, separators=(",", ":"))})


def create_click(conn: psycopg.Connection, space_id: int, uid: str, created_at: datetime, source: str,
                 fields: dict) -> str:
    """Insert one click and open (or complete) its journey; return the uid."""
    create_clicks(conn, [ClickIn(space_id, uid, created_at, source, fields)])
    return uid


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
