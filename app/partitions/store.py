"""SQL for the time partitions: pg_partman makes days ahead and detaches days beyond retention.

The partitioned tables and their time columns are fixed here (a whitelist): identifiers are
composed with psycopg.sql, never from input.
"""
from datetime import datetime, timedelta

import psycopg
from psycopg import sql

# table -> its partition key (sql/migrations/0019_time_partitions.sql)
PARTITIONED = {"delivery_attempts": "started_at", "received_requests": "received_at",
               # sql/migrations/0026_event_click_partitions.sql
               "events": "received_at", "clicks": "created_at"}

# Where pg_partman moves a received-log day it detaches, until its kept rows are copied back.
EXPIRED_SCHEMA = "xt_expired"


def lock_partitions(conn: psycopg.Connection) -> None:
    """Serialise partition maintenance for the rest of the transaction (two schedulers may run)."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtext('xt:partitions'))")


def expired_exists(conn: psycopg.Connection, name: str) -> bool:
    """Whether the detached day `name` still waits in EXPIRED_SCHEMA."""
    return conn.execute("SELECT to_regclass(%(name)s) IS NOT NULL AS found",
                        {"name": f"{EXPIRED_SCHEMA}.{name}"}).fetchone()["found"]


def make_days_ahead(conn: psycopg.Connection, table: str) -> None:
    """Create the table's partitions for the days ahead (pg_partman's premake; from the server clock).

    A day cannot be made while the default partition holds rows of it (they arrived while
    maintenance was stopped), so rows of today and later are set aside first and put back after,
    into their new days: in one transaction, through a temporary table dropped at its commit
    (nothing outlives the transaction; safe behind PgBouncer). Call inside a transaction.
    """
    names = {"parent": sql.Identifier(table), "default": sql.Identifier(f"{table}_default"),
             "column": sql.Identifier(PARTITIONED[table])}
    conn.execute(sql.SQL("CREATE TEMPORARY TABLE xt_held (LIKE {parent}) ON COMMIT DROP").format(**names))
    held = conn.execute(sql.SQL(
        "WITH moved AS (DELETE FROM {default} WHERE {column} >= date_trunc('day', now(), 'UTC') RETURNING *)"
        " INSERT INTO xt_held SELECT * FROM moved").format(**names)).rowcount
    conn.execute("SELECT partman.run_maintenance(%(parent)s, p_analyze := false)", {"parent": f"public.{table}"})
    if held:
        conn.execute(sql.SQL("INSERT INTO {parent} OVERRIDING SYSTEM VALUE SELECT * FROM xt_held").format(**names))
    conn.execute("DROP TABLE xt_held")


def drop_days_behind(conn: psycopg.Connection, table: str, *, retention: timedelta, now: datetime,
                     keep_tables: bool = False) -> int:
    """Drop (or, keep_tables, detach into EXPIRED_SCHEMA) the days that ended more than `retention` before `now`.

    Returns how many partitions went. The default partition is never dropped.
    """
    if keep_tables:
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(EXPIRED_SCHEMA)))
    return conn.execute(
        "SELECT partman.drop_partition_time(%(parent)s, p_retention := %(retention)s, p_keep_table := %(keep)s,"
        " p_retention_schema := %(schema)s, p_reference_timestamp := %(now)s) AS n",
        {"parent": f"public.{table}", "retention": retention, "keep": keep_tables,
         "schema": EXPIRED_SCHEMA if keep_tables else None, "now": now},
    ).fetchone()["n"]


def list_expired(conn: psycopg.Connection, table: str) -> list[str]:
    """Names of the table's detached days waiting in EXPIRED_SCHEMA, newest first.

    Newest first: the rows a space keeps are its newest, so a day is weighed after every newer one.
    """
    rows = conn.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = %(schema)s AND tablename LIKE %(prefix)s ORDER BY 1 DESC",
        {"schema": EXPIRED_SCHEMA, "prefix": table.replace("_", r"\_") + r"\_p%"},
    ).fetchall()
    return [r["tablename"] for r in rows]


def trim_default(conn: psycopg.Connection, table: str, *, cutoff: datetime) -> int:
    """Delete rows older than `cutoff` from the table's default partition (rows no day held); return how many."""
    query = sql.SQL("DELETE FROM {} WHERE {} < %(cutoff)s").format(
        sql.Identifier(f"{table}_default"), sql.Identifier(PARTITIONED[table]))
    if table == "events":
        # An event's dedup key goes with it (event_keys, 0026).
        query = sql.SQL("WITH gone AS ({} RETURNING space_id, dedup_key, id)"
                        " DELETE FROM event_keys k USING gone g WHERE k.space_id = g.space_id"
                        " AND k.dedup_key = g.dedup_key AND k.event_id = g.id").format(query)
    return conn.execute(query, {"cutoff": cutoff}).rowcount


# The received log keeps each space's newest `keep` rows whatever their age: before a detached day
# is dropped, the rows of it that are among their space's newest go back into the table (their day
# has no partition any more, so they land in the default partition, where the purge finds them).
_KEEP_RECEIVED = """
WITH spaces_in AS (
    SELECT DISTINCT space_id FROM {expired}
), missing AS (
    SELECT s.space_id, %(keep)s - (SELECT count(*) FROM (
        SELECT 1 FROM received_requests r WHERE r.space_id = s.space_id LIMIT %(keep)s) c) AS n
    FROM spaces_in s
)
INSERT INTO received_requests (space_id, id, received_at, endpoint, params, body_excerpt, status, http_status,
                               inbox_id, uid, warnings, error, similar_uid)
OVERRIDING SYSTEM VALUE
SELECT k.space_id, k.id, k.received_at, k.endpoint, k.params, k.body_excerpt, k.status, k.http_status,
       k.inbox_id, k.uid, k.warnings, k.error, k.similar_uid
FROM missing m CROSS JOIN LATERAL (
    SELECT x.* FROM {expired} x WHERE x.space_id = m.space_id ORDER BY x.id DESC LIMIT m.n) k
JOIN spaces s ON s.id = k.space_id
WHERE m.n > 0
ON CONFLICT DO NOTHING
"""


def drop_expired_received(conn: psycopg.Connection, name: str, *, keep: int) -> int:
    """Copy back the rows of a detached received-log day that their space still keeps, then drop the day.

    Returns how many rows were kept. Call inside a transaction: both steps commit together.
    """
    expired = sql.Identifier(EXPIRED_SCHEMA, name)
    kept = conn.execute(sql.SQL(_KEEP_RECEIVED).format(expired=expired), {"keep": keep}).rowcount if keep else 0
    conn.execute(sql.SQL("DROP TABLE {}").format(expired))
    return kept


def drop_expired_events(conn: psycopg.Connection, name: str) -> int:
    """Delete the dedup keys of a detached events day (event_keys, by its primary key), then drop the day.

    Returns how many keys went. Call inside a transaction: both steps commit together.
    """
    expired = sql.Identifier(EXPIRED_SCHEMA, name)
    gone = conn.execute(sql.SQL(
        "DELETE FROM event_keys k USING {} x WHERE k.space_id = x.space_id AND k.dedup_key = x.dedup_key"
        " AND k.event_id = x.id").format(expired)).rowcount
    conn.execute(sql.SQL("DROP TABLE {}").format(expired))
    return gone
