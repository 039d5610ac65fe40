"""Reads of the rollups behind the deck. Every function takes space_id first and filters on it.

Day rollups serve whole-day ranges; quarter-hour rollups serve the waveform of short ranges. All are kept
current by fold() (the deck folds before it reads). Every read names one link (or '*', all links)
and a day range: one index range, so a read costs what it returns, not the space's history.
"""
from datetime import date, datetime, timedelta

import psycopg

STAGES = ("contact", "subscribed", "registration", "deposit")
MAX_LINKS = 200
MAX_COUNTRIES = 300
# The link_slug of rollup rows that sum every link.
ALL_LINKS = "*"


def fold(conn: psycopg.Connection, space_id: int) -> int:
    """Fold the space's pending deltas into its rollups (the delivery matrix's too); return how many were folded."""
    return conn.execute("SELECT fold_rollups(%(space_id)s) + fold_delivery_matrix(%(space_id)s) AS folded",
                        {"space_id": space_id}).fetchone()["folded"]


def lock_for_rebuild(conn: psycopg.Connection, space_id: int) -> None:
    """Take the space's fold lock for a rebuild, as the first statement of a REPEATABLE READ transaction.

    The lock is transaction-level (released at COMMIT or ROLLBACK, safe behind PgBouncer in
    transaction mode) and is the one fold_rollups() takes. The transaction's snapshot is taken
    before the lock is granted; if a fold that folded something committed in between, this raises
    psycopg.errors.SerializationFailure and the caller retries in a new transaction
    (sql/migrations/0016_fold_marks.sql).
    """
    conn.execute("SELECT rollup_rebuild_lock(%(space_id)s)", {"space_id": space_id})


def rebuild(conn: psycopg.Connection, space_id: int) -> None:
    """Recompute the space's rollups (the deck's, its delivery matrix's and the reports') from clicks, journeys,
    events and deliveries."""
    conn.execute("SELECT deck_rebuild(%(space_id)s)", {"space_id": space_id})
    conn.execute("SELECT delivery_matrix_rebuild(%(space_id)s)", {"space_id": space_id})
    conn.execute("SELECT report_rebuild(%(space_id)s)", {"space_id": space_id})


def totals(conn: psycopg.Connection, space_id: int, first_day: date, last_day: date, link: str | None) -> dict:
    """Counts per kind ('click', 'stage:…', 'reach:…', 'skip:…', 'event:…') and revenue per currency over
    whole days (test events are in none of them; sql/migrations/0013_deck_trust.sql).

    Returns {"counts": {kind: n}, "revenue": {currency: (deposits, amount)}}.
    """
    rows = conn.execute(
        "SELECT kind, currency, sum(n) AS n, sum(amount) AS amount FROM rollup_days"
        " WHERE space_id = %(space_id)s AND link_slug = %(link)s AND day BETWEEN %(first)s AND %(last)s"
        " GROUP BY kind, currency",
        {"space_id": space_id, "first": first_day, "last": last_day, "link": link or ALL_LINKS},
    ).fetchall()
    counts: dict[str, int] = {}
    revenue: dict[str, tuple[int, object]] = {}
    for row in rows:
        if row["kind"] == "revenue":
            revenue[row["currency"]] = (int(row["n"]), row["amount"])
        else:
            counts[row["kind"]] = counts.get(row["kind"], 0) + int(row["n"])
    return {"counts": counts, "revenue": revenue}


def event_series(conn: psycopg.Connection, space_id: int, grain: str, first_day: date, last_day: date,
                 start: datetime, end: datetime, link: str | None) -> list[dict]:
    """Event counts per bucket and event: rows of (bucket, event, n).

    Buckets: 15-minute slots ('quarter'), hours from local midnight ('hour'), or local days ('day').
    """
    if grain == "day":
        query = ("SELECT day AS bucket, substr(kind, 7) AS event, n FROM rollup_days"
                 " WHERE space_id = %(space_id)s AND link_slug = %(link)s AND day BETWEEN %(first)s AND %(last)s"
                 "   AND kind LIKE 'event:%%'")
    else:
        query = ("SELECT date_bin(%(width)s, slot, %(start)s) AS bucket, substr(kind, 7) AS event, sum(n) AS n"
                 " FROM rollup_quarters"
                 " WHERE space_id = %(space_id)s AND link_slug = %(link)s AND slot >= %(start)s AND slot < %(end)s"
                 " GROUP BY 1, 2")
    width = timedelta(hours=1) if grain == "hour" else timedelta(minutes=15)
    return conn.execute(query, {"space_id": space_id, "start": start, "end": end, "first": first_day,
                                "last": last_day, "link": link or ALL_LINKS, "width": width}).fetchall()


def countries(conn: psycopg.Connection, space_id: int, first_day: date, last_day: date,
              link: str | None) -> list[dict]:
    """Clicks and depositing journeys per country (rows of country, clicks, deposits), most clicks first."""
    return conn.execute(
        "SELECT country, sum(n) FILTER (WHERE kind = 'click') AS clicks,"
        "       sum(n) FILTER (WHERE kind = 'stage:deposit') AS deposits"
        " FROM rollup_geo_days"
        " WHERE space_id = %(space_id)s AND link_slug = %(link)s AND day BETWEEN %(first)s AND %(last)s"
        " GROUP BY country ORDER BY clicks DESC NULLS LAST, country LIMIT %(limit)s",
        {"space_id": space_id, "first": first_day, "last": last_day, "link": link or ALL_LINKS,
         "limit": MAX_COUNTRIES},
    ).fetchall()


def links(conn: psycopg.Connection, space_id: int, first_day: date, last_day: date) -> list[dict]:
    """Per link slug seen in the range ('' = no link; any slug, a link of the space or not): clicks,
    journeys reaching each stage ('reach:…') and revenue per currency over whole days, so the rows
    sum to the all-links totals."""
    return conn.execute(
        "SELECT link_slug, kind, currency, sum(n) AS n, sum(amount) AS amount FROM rollup_days"
        " WHERE space_id = %(space_id)s AND link_slug <> '*' AND day BETWEEN %(first)s AND %(last)s"
        "   AND kind IN ('click', 'reach:contact', 'reach:subscribed', 'reach:registration',"
        "                'reach:deposit', 'revenue')"
        " GROUP BY link_slug, kind, currency",
        {"space_id": space_id, "first": first_day, "last": last_day},
    ).fetchall()


def list_links(conn: psycopg.Connection, space_id: int) -> list[dict]:
    """The space's links (slug, name, archived) for the link filter and the attribution table, by name,
    archived links last (their history stays on the deck)."""
    return conn.execute(
        "SELECT slug, name, archived_at IS NOT NULL AS archived FROM links WHERE space_id = %(space_id)s"
        " ORDER BY archived_at IS NOT NULL, name, slug LIMIT %(limit)s",
        {"space_id": space_id, "limit": MAX_LINKS},
    ).fetchall()


def list_spaces_with_deltas(conn: psycopg.Connection) -> list[int]:
    """Ids of the spaces that have deltas waiting to be folded (periodic folding)."""
    rows = conn.execute("SELECT space_id FROM rollup_deltas UNION SELECT space_id FROM delivery_deltas").fetchall()
    return [r["space_id"] for r in rows]
