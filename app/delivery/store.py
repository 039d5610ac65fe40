"""SQL for destinations, the outbox (deliveries) and the attempt log.

Every function on a space's data takes space_id first and filters on it. The exceptions are the
worker's queue functions (`claim_due_deliveries`, `record_results`, `defer_deliveries`,
`load_destinations`; `find_next_due` lives with the outbox's writer in app/conversion/store.py): the
outbox is one queue for every space, and they act only on rows the caller claimed (by lease token)
or ids it read from them.
"""
import uuid
from datetime import date, datetime

import psycopg
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from app.delivery.rows import ClaimedDelivery, Destination, DESTINATION_FIELDS, SealedDestination, field_names
from app.space.store import NotFound

STATUSES = ("pending", "failed", "delivered", "dead")
MAX_LIST = 500

# Written from the dataclass, so the SELECT and the row type cannot drift apart.
DESTINATION_COLUMNS = ", ".join(DESTINATION_FIELDS)
SEALED_COLUMNS = ", ".join(field_names(SealedDestination))
_DESTINATION = class_row(Destination)
_SEALED = class_row(SealedDestination)
_CLAIMED = class_row(ClaimedDelivery)


def create_destination(conn: psycopg.Connection, space_id: int, *, kind: str, name: str, config: dict,
                       secret: bytes | None, secret_hint: str | None, event_map: dict, now: datetime,
                       accept_test: bool = False) -> Destination:
    """Insert a destination (secret already sealed); return its public row."""
    return conn.cursor(row_factory=_DESTINATION).execute(
        "INSERT INTO destinations (space_id, kind, name, config, secret, secret_hint, event_map, created_at,"
        "                          accept_test)"
        " VALUES (%(space_id)s, %(kind)s, %(name)s, %(config)s, %(secret)s, %(hint)s, %(map)s, %(now)s,"
        "         %(accept_test)s)"
        f" RETURNING {DESTINATION_COLUMNS}",
        {"space_id": space_id, "kind": kind, "name": name, "config": Jsonb(config), "secret": secret,
         "hint": secret_hint, "map": Jsonb(event_map), "now": now, "accept_test": accept_test},
    ).fetchone()


def list_destinations(conn: psycopg.Connection, space_id: int, *, include_deleted: bool = False) -> list[Destination]:
    """The space's destinations, oldest first, without secrets (hints only); deleted ones only when asked."""
    return conn.cursor(row_factory=_DESTINATION).execute(
        f"SELECT {DESTINATION_COLUMNS} FROM destinations WHERE space_id = %(space_id)s"
        " AND (%(deleted)s OR deleted_at IS NULL) ORDER BY id",
        {"space_id": space_id, "deleted": include_deleted},
    ).fetchall()


def get_destination(conn: psycopg.Connection, space_id: int, destination_id: int, *,
                    include_deleted: bool = False) -> Destination:
    """One destination of the space (public columns), or NotFound (also for a deleted one unless asked)."""
    row = conn.cursor(row_factory=_DESTINATION).execute(
        f"SELECT {DESTINATION_COLUMNS} FROM destinations WHERE space_id = %(space_id)s AND id = %(id)s"
        " AND (%(deleted)s OR deleted_at IS NULL)",
        {"space_id": space_id, "id": destination_id, "deleted": include_deleted},
    ).fetchone()
    if row is None:
        raise NotFound(f"no destination {destination_id} in this space")
    return row


def update_event_map(conn: psycopg.Connection, space_id: int, destination_id: int, event_map: dict) -> Destination:
    """Replace the destination's event map; return the destination, or NotFound."""
    row = conn.cursor(row_factory=_DESTINATION).execute(
        "UPDATE destinations SET event_map = %(map)s WHERE space_id = %(space_id)s AND id = %(id)s"
        f" RETURNING {DESTINATION_COLUMNS}",
        {"space_id": space_id, "id": destination_id, "map": Jsonb(event_map)},
    ).fetchone()
    if row is None:
        raise NotFound(f"no destination {destination_id} in this space")
    return row


def rotate_destination_secret(conn: psycopg.Connection, space_id: int, destination_id: int, *, secret: bytes,
                              secret_hint: str, grace_until: datetime) -> Destination:
    """Install a new sealed secret; the old one is kept (sealed) as previous until `grace_until`."""
    row = conn.cursor(row_factory=_DESTINATION).execute(
        "UPDATE destinations SET previous_secret = secret, previous_secret_expires_at = %(grace)s,"
        " secret = %(secret)s, secret_hint = %(hint)s"
        " WHERE space_id = %(space_id)s AND id = %(id)s"
        f" RETURNING {DESTINATION_COLUMNS}",
        {"space_id": space_id, "id": destination_id, "secret": secret, "hint": secret_hint, "grace": grace_until},
    ).fetchone()
    if row is None:
        raise NotFound(f"no destination {destination_id} in this space")
    return row


def pause_destination(conn: psycopg.Connection, space_id: int, destination_id: int, *, now: datetime,
                      reason: str) -> Destination:
    """Pause the destination and hold its open deliveries (their due time becomes 'infinity')."""
    row = conn.cursor(row_factory=_DESTINATION).execute(
        "UPDATE destinations SET paused_at = coalesce(paused_at, %(now)s), paused_reason = %(reason)s"
        f" WHERE space_id = %(space_id)s AND id = %(id)s RETURNING {DESTINATION_COLUMNS}",
        {"space_id": space_id, "id": destination_id, "now": now, "reason": reason},
    ).fetchone()
    if row is None:
        raise NotFound(f"no destination {destination_id} in this space")
    conn.execute(
        "UPDATE deliveries SET next_attempt_at = 'infinity'"
        " WHERE space_id = %(space_id)s AND destination_id = %(id)s AND next_attempt_at IS NOT NULL"
        "   AND next_attempt_at <> 'infinity' AND manual_requested_at IS NULL",
        {"space_id": space_id, "id": destination_id},
    )
    return row


def delete_destination(conn: psycopg.Connection, space_id: int, destination_id: int, *, now: datetime) -> Destination:
    """Delete a destination: it keeps its row and history but gets no new deliveries, and its open
    deliveries end as dead ("destination deleted"); NotFound when not the space's (or already deleted)."""
    row = conn.cursor(row_factory=_DESTINATION).execute(
        "UPDATE destinations SET deleted_at = %(now)s, paused_at = coalesce(paused_at, %(now)s),"
        " paused_reason = 'deleted'"
        " WHERE space_id = %(space_id)s AND id = %(id)s AND deleted_at IS NULL"
        f" RETURNING {DESTINATION_COLUMNS}",
        {"space_id": space_id, "id": destination_id, "now": now},
    ).fetchone()
    if row is None:
        raise NotFound(f"no destination {destination_id} in this space")
    conn.execute(
        "UPDATE deliveries SET status = 'dead', next_attempt_at = NULL, manual_requested_at = NULL,"
        " last_error = 'destination deleted'"
        " WHERE space_id = %(space_id)s AND destination_id = %(id)s AND status IN ('pending', 'failed')",
        {"space_id": space_id, "id": destination_id},
    )
    return row


def resume_destination(conn: psycopg.Connection, space_id: int, destination_id: int, *, now: datetime) -> Destination:
    """Unpause: held deliveries become due now, and the failure streak starts over."""
    row = conn.cursor(row_factory=_DESTINATION).execute(
        "UPDATE destinations SET paused_at = NULL, paused_reason = NULL, failing_since = NULL"
        f" WHERE space_id = %(space_id)s AND id = %(id)s RETURNING {DESTINATION_COLUMNS}",
        {"space_id": space_id, "id": destination_id},
    ).fetchone()
    if row is None:
        raise NotFound(f"no destination {destination_id} in this space")
    conn.execute(
        "UPDATE deliveries SET next_attempt_at = %(now)s"
        " WHERE space_id = %(space_id)s AND destination_id = %(id)s AND next_attempt_at = 'infinity'",
        {"space_id": space_id, "id": destination_id, "now": now},
    )
    return row


def note_destination_outcome(conn: psycopg.Connection, space_id: int, destination_id: int, *, succeeded: bool,
                             now: datetime) -> dict | None:
    """Clear the failure streak on success, start it on a first failure; return failing_since and paused_at."""
    return conn.execute(
        "UPDATE destinations SET failing_since = CASE WHEN %(ok)s THEN NULL ELSE coalesce(failing_since, %(now)s) END"
        " WHERE space_id = %(space_id)s AND id = %(id)s RETURNING failing_since, paused_at",
        {"space_id": space_id, "id": destination_id, "ok": succeeded, "now": now},
    ).fetchone()


def load_destinations(conn: psycopg.Connection, keys: list[tuple[int, int]]) -> list[SealedDestination]:
    """Destinations by (space_id, id), with their sealed secrets (worker only)."""
    return conn.cursor(row_factory=_SEALED).execute(
        f"SELECT {SEALED_COLUMNS} FROM destinations"
        " WHERE (space_id, id) IN (SELECT * FROM unnest(%(spaces)s::bigint[], %(ids)s::bigint[]))",
        {"spaces": [k[0] for k in keys], "ids": [k[1] for k in keys]},
    ).fetchall()


_CLAIM = """
WITH claimed AS (
    -- By ctid: the locked rows are updated through a TID scan, not a join over the table.
    UPDATE deliveries d SET next_attempt_at = %(lease_until)s, lease_token = %(token)s
    WHERE d.ctid = ANY(ARRAY(
        SELECT ctid FROM deliveries WHERE next_attempt_at <= %(now)s
        ORDER BY next_attempt_at LIMIT %(limit)s
        FOR UPDATE SKIP LOCKED))
    RETURNING d.space_id, d.id, d.event_id, d.destination_id, d.event, d.status, d.attempts,
              d.manual_requested_at, d.auto_next_at
)
SELECT c.space_id, c.id, c.event_id, c.destination_id, c.event, c.status, c.attempts,
       c.manual_requested_at IS NOT NULL AS manual, c.auto_next_at,
       'xt-' || c.event_id || '-' || c.destination_id AS stable_id, s.slug AS space_slug,
       e.uid, coalesce(e.tg_id, j.tg_id) AS tg_id, e.eid, e.value, e.currency, e.occurred_at_ms,
       e.received_at, e.source, e.flags, e.test,
       k.created_at AS clicked_at, k.link_slug, k.link_kind, k.fbclid, k.fbc, k.fbp, k.campaign_name,
       k.utm_source, k.utm_medium, k.utm_campaign, k.utm_content, k.utm_term, k.client_ip, k.user_agent,
       k.country
FROM claimed c
JOIN spaces s ON s.id = c.space_id
-- LATERAL … LIMIT 1 (not flattened into the join) keeps every lookup a primary-key probe per
-- claimed row whatever the statistics say: with stale statistics a flat join once planned a scan
-- of the whole space's events per row.
CROSS JOIN LATERAL (
    SELECT uid, tg_id, eid, value, currency, occurred_at_ms, received_at, source, flags, test
    FROM events WHERE space_id = c.space_id AND id = c.event_id LIMIT 1
) e
LEFT JOIN LATERAL (
    SELECT tg_id FROM journeys WHERE space_id = c.space_id AND uid = e.uid LIMIT 1
) j ON true
LEFT JOIN LATERAL (
    SELECT k.created_at, k.link_slug, l.kind AS link_kind, k.fbclid, k.fbc, k.fbp, k.campaign_name,
           k.utm_source, k.utm_medium, k.utm_campaign, k.utm_content, k.utm_term, k.client_ip, k.user_agent,
           k.country
    FROM clicks k LEFT JOIN links l ON l.space_id = k.space_id AND l.id = k.link_id
    WHERE k.space_id = c.space_id AND k.uid = e.uid
      -- A uid carries its day (xt_uid_day, 0026): the days before it are never probed.
      AND k.created_at >= coalesce(xt_uid_day(e.uid), '-infinity') LIMIT 1
) k ON true
"""


def claim_due_deliveries(conn: psycopg.Connection, *, now: datetime, lease_until: datetime,
                         limit: int) -> tuple[uuid.UUID, list[ClaimedDelivery]]:
    """Lease up to `limit` due deliveries (any space) with everything needed to send them.

    The lease is the row's next_attempt_at: if the worker dies, the row is simply due again when
    the lease ends. SKIP LOCKED lets workers claim side by side; the token guards the write-back.
    """
    token = uuid.uuid4()
    rows = conn.cursor(row_factory=_CLAIMED).execute(_CLAIM, {"now": now, "lease_until": lease_until, "token": token,
                                 "limit": max(1, min(limit, 1000))}).fetchall()
    return token, rows


_RECORD = """
WITH u AS (
    SELECT * FROM unnest(%(space_ids)b::bigint[], %(ids)b::bigint[], %(statuses)b::text[],
                         %(next)b::timestamptz[], %(auto_next)b::timestamptz[], %(attempts)b::integer[],
                         %(manual)b::boolean[], %(codes)b::integer[], %(errors)b::text[])
        AS u(space_id, id, status, next_attempt_at, auto_next_at, attempts, manual, status_code, error)
), upd AS (
    UPDATE deliveries d SET
        status = u.status,
        next_attempt_at = CASE
            WHEN u.status = 'delivered' THEN NULL
            -- A manual retry requested while this automatic attempt was in flight runs next.
            WHEN d.manual_requested_at IS NOT NULL AND NOT u.manual THEN %(now)s
            WHEN u.next_attempt_at IS NOT NULL AND dst.paused_at IS NOT NULL THEN 'infinity'
            ELSE u.next_attempt_at END,
        auto_next_at = u.auto_next_at,
        attempts = u.attempts,
        lease_token = NULL,
        manual_requested_at = CASE WHEN u.manual OR u.status = 'delivered' THEN NULL ELSE d.manual_requested_at END,
        last_attempt_at = %(now)s,
        last_status_code = u.status_code,
        last_error = u.error,
        delivered_at = CASE WHEN u.status = 'delivered' THEN coalesce(d.delivered_at, %(now)s) ELSE d.delivered_at END
    FROM u, destinations dst
    WHERE d.space_id = u.space_id AND d.id = u.id AND d.lease_token = %(token)s
      AND dst.space_id = d.space_id AND dst.id = d.destination_id
    RETURNING d.space_id, d.id
), logged AS (
    INSERT INTO delivery_attempts (space_id, delivery_id, started_at, duration_ms, trigger, outcome, status_code,
                                   request_excerpt, response_excerpt, error)
    SELECT a.space_id, a.id, a.started_at, a.duration_ms, a.trigger, a.outcome, a.status_code, a.request,
           a.response, a.error
    FROM unnest(%(space_ids)b::bigint[], %(ids)b::bigint[], %(started)b::timestamptz[], %(durations)b::integer[],
                %(triggers)b::text[], %(outcomes)b::text[], %(codes)b::integer[], %(requests)b::text[],
                %(responses)b::text[], %(errors)b::text[])
        AS a(space_id, id, started_at, duration_ms, trigger, outcome, status_code, request, response, error)
    JOIN upd ON upd.space_id = a.space_id AND upd.id = a.id
)
SELECT space_id, id FROM upd
"""


def record_results(conn: psycopg.Connection, token: uuid.UUID, now: datetime, results: list[dict]) -> set[int]:
    """Write back the outcome of attempts on claimed rows and log each attempt; return the ids written.

    Rows whose lease was taken over by another worker (lease expired) are left alone, and their
    attempt is not logged, so a slow worker can never overwrite a newer outcome.
    Each result: space_id, id, status, outcome (of this attempt), next_attempt_at, auto_next_at,
    attempts, manual, status_code, error, started_at, duration_ms, request_excerpt, response_excerpt.
    """
    if not results:
        return set()
    column = lambda name: [r[name] for r in results]  # noqa: E731
    rows = conn.execute(_RECORD, {
        "token": token, "now": now, "space_ids": column("space_id"), "ids": column("id"),
        "statuses": column("status"), "next": column("next_attempt_at"), "auto_next": column("auto_next_at"),
        "attempts": column("attempts"), "manual": column("manual"), "codes": column("status_code"),
        "errors": column("error"), "started": column("started_at"), "durations": column("duration_ms"),
        "triggers": ["manual" if r["manual"] else "auto" for r in results], "outcomes": column("outcome"),
        "requests": column("request_excerpt"), "responses": column("response_excerpt"),
    }).fetchall()
    return {r["id"] for r in rows}


def defer_deliveries(conn: psycopg.Connection, token: uuid.UUID, deferrals: list[tuple[int, int, datetime]]) -> None:
    """Give back claimed rows that are waiting (not attempted): due again at the given time, status unchanged."""
    if not deferrals:
        return
    conn.execute(
        "UPDATE deliveries d SET next_attempt_at = u.due, lease_token = NULL"
        " FROM unnest(%(space_ids)s::bigint[], %(ids)s::bigint[], %(due)s::timestamptz[]) AS u(space_id, id, due)"
        " WHERE d.space_id = u.space_id AND d.id = u.id AND d.lease_token = %(token)s",
        {"token": token, "space_ids": [d[0] for d in deferrals], "ids": [d[1] for d in deferrals],
         "due": [d[2] for d in deferrals]},
    )


def summarize_matrix(conn: psycopg.Connection, space_id: int, start: datetime, end: datetime) -> list[dict]:
    """Delivery counts per destination × canonical event × status for real (not test) events received in
    [start, end)."""
    return conn.execute(
        "SELECT destination_id, event, status, count(*) AS count FROM deliveries"
        " WHERE space_id = %(space_id)s AND created_at >= %(start)s AND created_at < %(end)s AND NOT test"
        " GROUP BY destination_id, event, status ORDER BY destination_id, event, status",
        {"space_id": space_id, "start": start, "end": end},
    ).fetchall()


def fold_matrix(conn: psycopg.Connection, space_id: int) -> int:
    """Fold the space's waiting matrix deltas into its matrix days; return how many were folded."""
    return conn.execute("SELECT fold_delivery_matrix(%(space_id)s) AS folded",
                        {"space_id": space_id}).fetchone()["folded"]


def summarize_matrix_days(conn: psycopg.Connection, space_id: int, first_day: date, last_day: date) -> list[dict]:
    """summarize_matrix() over the whole local days first_day..last_day, read from the matrix rollup
    (sql/migrations/0020_delivery_matrix_rollup.sql): fold_matrix() first for the latest counts."""
    return conn.execute(
        "SELECT destination_id, event, status, sum(n) AS count FROM delivery_days"
        " WHERE space_id = %(space_id)s AND day BETWEEN %(first)s AND %(last)s"
        " GROUP BY destination_id, event, status HAVING sum(n) <> 0 ORDER BY destination_id, event, status",
        {"space_id": space_id, "first": first_day, "last": last_day},
    ).fetchall()


DELIVERY_COLUMNS = (
    "d.space_id, d.id, d.event_id, d.destination_id, d.event, d.status, d.attempts, d.created_at,"
    " CASE WHEN d.next_attempt_at = 'infinity' THEN NULL ELSE d.next_attempt_at END AS next_attempt_at,"
    " d.next_attempt_at = 'infinity' AS held, d.manual_requested_at, d.last_attempt_at, d.last_status_code,"
    " d.last_error, d.delivered_at, e.uid, e.eid, e.value, e.currency, e.occurred_at_ms"
)


def list_cell_deliveries(conn: psycopg.Connection, space_id: int, destination_id: int, event: str, *,
                         statuses: tuple[str, ...] = STATUSES, start: datetime, end: datetime,
                         limit: int = 100) -> list[dict]:
    """Deliveries of one matrix cell in [start, end) with the given statuses, newest first, with last error
    and every attempt counted (`attempts_made`, manual ones included; `manual_attempts` of them manual).
    Test events' deliveries are not part of the matrix."""
    return conn.execute(
        f"SELECT {DELIVERY_COLUMNS}, a.made AS attempts_made, a.manual AS manual_attempts FROM deliveries d"
        " JOIN events e ON e.space_id = d.space_id AND e.id = d.event_id"
        " CROSS JOIN LATERAL (SELECT count(*) AS made, count(*) FILTER (WHERE trigger = 'manual') AS manual"
        "                     FROM delivery_attempts WHERE space_id = d.space_id AND delivery_id = d.id) a"
        " WHERE d.space_id = %(space_id)s AND d.destination_id = %(destination_id)s AND d.event = %(event)s"
        "   AND NOT d.test"
        "   AND d.status = ANY(%(statuses)s) AND d.created_at >= %(start)s AND d.created_at < %(end)s"
        " ORDER BY d.created_at DESC, d.id DESC LIMIT %(limit)s",
        {"space_id": space_id, "destination_id": destination_id, "event": event, "statuses": list(statuses),
         "start": start, "end": end, "limit": max(1, min(limit, MAX_LIST))},
    ).fetchall()


def get_delivery(conn: psycopg.Connection, space_id: int, delivery_id: int) -> dict:
    """One delivery of the space, or NotFound."""
    row = conn.execute(
        f"SELECT {DELIVERY_COLUMNS} FROM deliveries d JOIN events e ON e.space_id = d.space_id AND e.id = d.event_id"
        " WHERE d.space_id = %(space_id)s AND d.id = %(id)s",
        {"space_id": space_id, "id": delivery_id},
    ).fetchone()
    if row is None:
        raise NotFound(f"no delivery {delivery_id} in this space")
    return row


def list_attempts(conn: psycopg.Connection, space_id: int, delivery_id: int) -> list[dict]:
    """The attempt log of one delivery, oldest first (NotFound when the delivery is not the space's)."""
    get_delivery(conn, space_id, delivery_id)
    return conn.execute(
        "SELECT id, started_at, duration_ms, trigger, outcome, status_code, request_excerpt, response_excerpt, error"
        " FROM delivery_attempts WHERE space_id = %(space_id)s AND delivery_id = %(id)s ORDER BY started_at, id",
        {"space_id": space_id, "id": delivery_id},
    ).fetchall()


_REQUEST_MANUAL = (
    "UPDATE deliveries SET manual_requested_at = %(now)s,"
    # A row in flight keeps its lease; the write-back of that attempt makes the manual one due.
    " next_attempt_at = CASE WHEN lease_token IS NULL THEN %(now)s ELSE next_attempt_at END"
)
# A deleted destination's deliveries stay readable but are never attempted again.
_LIVE_DESTINATION = (
    " AND NOT EXISTS (SELECT 1 FROM destinations x WHERE x.space_id = deliveries.space_id"
    "                 AND x.id = deliveries.destination_id AND x.deleted_at IS NOT NULL)"
)


def request_retry(conn: psycopg.Connection, space_id: int, delivery_id: int, now: datetime) -> dict:
    """Ask for a manual attempt of one delivery (any status); NotFound when it is not the space's."""
    row = conn.execute(
        _REQUEST_MANUAL + " WHERE space_id = %(space_id)s AND id = %(id)s" + _LIVE_DESTINATION
        + " RETURNING id, status",
        {"space_id": space_id, "id": delivery_id, "now": now},
    ).fetchone()
    if row is None:
        raise NotFound(f"no delivery {delivery_id} in this space")
    return row


def request_cell_retry(conn: psycopg.Connection, space_id: int, *, destination_id: int | None, event: str | None,
                       start: datetime | None, end: datetime | None, now: datetime) -> int:
    """Ask for a manual attempt of every failed or dead delivery matching the filters; return how many."""
    return conn.execute(
        _REQUEST_MANUAL +
        " WHERE space_id = %(space_id)s AND status IN ('failed', 'dead')"
        "   AND (%(destination_id)s::bigint IS NULL OR destination_id = %(destination_id)s)"
        "   AND (%(event)s::text IS NULL OR event = %(event)s)"
        "   AND (%(start)s::timestamptz IS NULL OR created_at >= %(start)s)"
        "   AND (%(end)s::timestamptz IS NULL OR created_at < %(end)s)" + _LIVE_DESTINATION,
        {"space_id": space_id, "destination_id": destination_id, "event": event, "start": start, "end": end,
         "now": now},
    ).rowcount


def replay_since(conn: psycopg.Connection, space_id: int, destination_id: int, since: datetime,
                 now: datetime) -> int:
    """Fan out to one destination every event received since `since` that its map maps and that it lacks."""
    return conn.execute(
        "INSERT INTO deliveries (space_id, event_id, destination_id, event, created_at, next_attempt_at, test)"
        " SELECT e.space_id, e.id, d.id, e.event, e.received_at,"
        "        CASE WHEN d.paused_at IS NULL THEN %(now)s::timestamptz ELSE 'infinity' END, e.test"
        " FROM destinations d JOIN events e ON e.space_id = d.space_id AND d.event_map ? e.event"
        "  AND (NOT e.test OR d.accept_test)"
        " WHERE d.space_id = %(space_id)s AND d.id = %(destination_id)s AND e.received_at >= %(since)s"
        "   AND d.deleted_at IS NULL"
        " ON CONFLICT (space_id, event_id, destination_id) DO NOTHING",
        {"space_id": space_id, "destination_id": destination_id, "since": since, "now": now},
    ).rowcount


def update_destination(conn: psycopg.Connection, space_id: int, destination_id: int, *, name: str, config: dict,
                        secret: bytes | None, secret_hint: str | None, event_map: dict,
                        accept_test: bool | None = None) -> Destination:
    """Write a destination's edited columns; a NULL secret (or accept_test) keeps the stored one."""
    row = conn.cursor(row_factory=_DESTINATION).execute(
        "UPDATE destinations SET name = %(name)s, config = %(config)s, event_map = %(map)s,"
        " secret = coalesce(%(secret)s, secret), secret_hint = coalesce(%(hint)s, secret_hint),"
        " accept_test = coalesce(%(accept_test)s, accept_test)"
        f" WHERE space_id = %(space_id)s AND id = %(id)s AND deleted_at IS NULL RETURNING {DESTINATION_COLUMNS}",
        {"space_id": space_id, "id": destination_id, "name": name, "config": Jsonb(config), "map": Jsonb(event_map),
         "secret": secret, "hint": secret_hint, "accept_test": accept_test},
    ).fetchone()
    if row is None:
        raise NotFound(f"no destination {destination_id} in this space")
    return row
