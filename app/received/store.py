"""SQL for the received log and the journey page it links to."""
import json
from datetime import datetime

import psycopg

# One statement stores a batch (from any spaces) and adds `unknown_uid` where no click of the
# space has the uid: one primary-key probe per row that names a uid (and, only for those unknown,
# one probe of the lower(uid) index for a click whose uid differs in letter case). Rows of a space deleted
# meanwhile are skipped by the join instead of failing the batch. Stored rows come back only for
# the spaces someone listens to (listen mode), so the common case parses nothing.
_RECORD = """
WITH input AS (
    SELECT * FROM json_to_recordset(%(rows)s::json) AS t(
        space_id bigint, received_at timestamptz, endpoint text, params json, body_excerpt text,
        status text, http_status smallint, inbox_id bigint, uid text, check_uid text, warnings text, error text,
        seq int)
), probed AS (
    SELECT i.*,
           i.check_uid IS NOT NULL AND NOT EXISTS (
               -- A uid is known when a click opened its journey (create_clicks sets clicked_at in the
               -- same statement): one primary-key probe of journeys, where clicks, partitioned by
               -- day (0026), would take one per day; a click dropped by CLICK_DAYS keeps its uid known.
               SELECT 1 FROM journeys j WHERE j.space_id = i.space_id AND j.uid = i.check_uid
               AND j.clicked_at IS NOT NULL) AS unknown
    FROM input i JOIN spaces s ON s.id = i.space_id
), stored AS (
    INSERT INTO received_requests (space_id, received_at, endpoint, params, body_excerpt, status, http_status,
                                   inbox_id, uid, warnings, error, similar_uid)
    SELECT p.space_id, p.received_at, p.endpoint, p.params, p.body_excerpt, p.status, p.http_status, p.inbox_id,
           p.uid,
           CASE WHEN p.unknown THEN string_to_array(p.warnings, ',') || ARRAY['unknown_uid']
                ELSE string_to_array(p.warnings, ',') END,
           p.error,
           CASE WHEN p.unknown THEN (
               SELECT c.uid FROM clicks c
               WHERE c.space_id = p.space_id AND lower(c.uid) = lower(p.check_uid) ORDER BY c.created_at LIMIT 1)
           END
    FROM probed p
    ORDER BY p.seq
    RETURNING space_id, id, received_at, endpoint, params, body_excerpt, status, http_status, inbox_id, uid,
              warnings, error, similar_uid
)
SELECT st.space_id, st.id, st.received_at, st.endpoint, st.params, st.body_excerpt, st.status, st.http_status,
       st.inbox_id, st.uid, st.warnings, st.error, st.similar_uid,
       EXISTS (SELECT 1 FROM journeys j WHERE j.space_id = st.space_id AND j.uid = st.uid) AS has_journey
FROM stored st WHERE st.space_id = ANY(%(returning)s) ORDER BY st.id
"""


def record_requests(conn: psycopg.Connection, rows: list[dict], *, returning: set[int] = frozenset()) -> list[dict]:
    """Insert a batch of captured requests; return the stored rows of the `returning` spaces (ids, final warnings)."""
    batch = [{**row, "seq": n} for n, row in enumerate(rows)]
    return conn.execute(_RECORD, {"rows": json.dumps(batch, separators=(",", ":"), default=str),
                                  "returning": list(returning)}).fetchall()


MAX_LIMIT = 500


def list_requests(conn: psycopg.Connection, space_id: int, *, endpoint: str | None = None, status: str | None = None,
                  warned: bool = False, before: int | None = None, limit: int = 100) -> list[dict]:
    """The space's logged requests, newest first, optionally filtered; `before` pages by id.

    The uid of an event resolved from its tg_id (or back-filled by a later bind) comes from the
    event row the request recorded.
    """
    where = ["r.space_id = %(space_id)s"]
    if endpoint:
        where.append("r.endpoint = %(endpoint)s")
    if status:
        where.append("r.status = %(status)s")
    if warned:
        where.append("r.warnings <> '{}'")
    if before is not None:
        where.append("r.id < %(before)s")
    query = (
        "SELECT r.id, r.received_at, r.endpoint, r.params, r.body_excerpt, r.status, r.http_status, r.inbox_id,"
        " coalesce(r.uid, e.uid) AS uid, r.warnings, r.error, r.similar_uid,"
        " EXISTS (SELECT 1 FROM journeys j WHERE j.space_id = r.space_id AND j.uid = coalesce(r.uid, e.uid))"
        " AS has_journey"
        " FROM received_requests r"
        " LEFT JOIN events e ON e.space_id = r.space_id AND e.id = r.inbox_id"
        " WHERE " + " AND ".join(where) +
        " ORDER BY r.id DESC LIMIT %(limit)s")
    return conn.execute(query, {"space_id": space_id, "endpoint": endpoint, "status": status, "before": before,
                                "limit": max(1, min(limit, MAX_LIMIT))}).fetchall()


# Whole days beyond retention are dropped as partitions (app/partitions/); this purge only trims
# the default partition, which holds the rows no day holds: the newest rows of quiet spaces that
# were kept when their day went, and late rows. Per space, the id of its (keep+1)-th newest row (a
# backward walk of the primary key), then one set-based delete of that partition's rows older than
# the cutoff at or below their space's id. Spaces without keep+1 rows have no floor and keep everything.
_PURGE = """
WITH floors AS MATERIALIZED (
    SELECT s.id AS space_id, f.id AS below_id
    FROM spaces s CROSS JOIN LATERAL (
        SELECT r.id FROM received_requests r WHERE r.space_id = s.id
        ORDER BY r.id DESC OFFSET %(keep)s LIMIT 1) f
)
DELETE FROM received_requests_default r
USING floors f
WHERE r.received_at < %(cutoff)s AND r.space_id = f.space_id AND r.id <= f.below_id
"""


def purge_requests(conn: psycopg.Connection, *, cutoff: datetime, keep: int) -> int:
    """Delete default-partition rows older than `cutoff` not among their space's newest `keep`; return how many."""
    return conn.execute(_PURGE, {"cutoff": cutoff, "keep": keep}).rowcount


SEARCH_LIMIT = 20


def find_journey_matches(conn: psycopg.Connection, space_id: int, query: str) -> list[dict]:
    """Journeys (and test-only uids) that `query` names: rows of (uid, how, detail), best first.

    `how` is 'uid' (exact), 'uid_case' (the uid in another letter case), 'tg_id' (a bound or sent
    Telegram user id), 'eid' (an event's external id) or 'inbox_id' (an event's id); detail says which
    event. An event without a uid yet is returned with uid NULL.
    """
    digits = query.isdigit() and len(query) <= 18
    return conn.execute(
        """
        WITH hits AS (
            SELECT uid, 'uid' AS how, NULL::text AS detail, 1 AS rank FROM journeys
            WHERE space_id = %(space_id)s AND uid = %(q)s
            UNION ALL
            SELECT uid, 'uid_case', NULL, 2 FROM journeys
            WHERE space_id = %(space_id)s AND lower(uid) = lower(%(q)s) AND uid <> %(q)s
            UNION ALL
            (SELECT uid, 'uid', 'test events only', 1 FROM events
             WHERE space_id = %(space_id)s AND uid = %(q)s LIMIT 1)
            UNION ALL
            SELECT uid, 'tg_id', NULL, 3 FROM journeys
            WHERE %(digits)s AND space_id = %(space_id)s AND tg_id = %(number)s
            UNION ALL
            (SELECT uid, 'tg_id', event || ' #' || id, 3 FROM events
             WHERE %(digits)s AND space_id = %(space_id)s AND tg_id = %(number)s AND uid IS NULL
             ORDER BY id DESC LIMIT 5)
            UNION ALL
            SELECT uid, 'eid', event || ' #' || id, 4 FROM events
            WHERE space_id = %(space_id)s AND dedup_key = ANY(%(eid_keys)s)
            UNION ALL
            SELECT uid, 'inbox_id', event || ' #' || id, 5 FROM events
            WHERE %(digits)s AND space_id = %(space_id)s AND id = %(number)s
        )
        SELECT DISTINCT ON (coalesce(uid, detail)) uid, how, detail, rank FROM hits
        ORDER BY coalesce(uid, detail), rank
        LIMIT %(limit)s
        """,
        {"space_id": space_id, "q": query, "digits": digits, "number": int(query) if digits else 0,
         "eid_keys": [f"{prefix}eid:{event}:{query}" for prefix in ("", "test:")
                      for event in ("contact", "subscribed", "registration", "deposit")],
         "limit": SEARCH_LIMIT},
    ).fetchall()
