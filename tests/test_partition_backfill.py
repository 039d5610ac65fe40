"""Migration 0019 and scripts/partition_backfill.py on a copy: old log rows reach the partitioned tables.

A database of its own is migrated to 0018, filled, then migrated to 0019: a small legacy table is
copied by the migration, a large one (the limit lowered for the test) is moved by the backfill
while a writer keeps adding rows. The same procedure on 1,000,000 rows: bench/partition_backfill.py.
"""
import sys
import threading
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from psycopg.rows import dict_row

from app import db as app_db

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import partition_backfill  # noqa: E402

NAME = "xt_backfill_test"


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture
def copy_url(servers):
    admin = with_database(servers.direct_url, "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {NAME}")
        conn.execute(f"CREATE DATABASE {NAME}")
    yield with_database(servers.direct_url, NAME)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {NAME} WITH (FORCE)")


def fill(conn, received: int, attempts: int) -> None:
    """Old rows, as a running XTRACKER before 0019 would have them: ids from the tables' own sequences."""
    conn.execute("INSERT INTO spaces (slug, name) VALUES ('alice', 'Alice')")
    conn.execute(
        "INSERT INTO received_requests (space_id, received_at, endpoint, status, http_status, uid)"
        " SELECT 1, now() - g * interval '7 minutes', 'POST /events', 'queued', 202, 'old' || g"
        " FROM generate_series(1, %(n)s) g", {"n": received})
    conn.execute("INSERT INTO destinations (space_id, kind, name, config, event_map, created_at)"
                 " VALUES (1, 'webhook', 'hook', '{}', '{}', now())")
    conn.execute("INSERT INTO events (space_id, event, uid, currency, occurred_at_ms, received_at, source, dedup_key)"
                 " VALUES (1, 'contact', 'u', 'USD', 0, now(), 'post', 'k')")
    conn.execute("INSERT INTO deliveries (space_id, event_id, destination_id, event, created_at)"
                 " VALUES (1, 1, 1, 'contact', now())")
    conn.execute(
        "INSERT INTO delivery_attempts (space_id, delivery_id, started_at, duration_ms, trigger, outcome)"
        " SELECT 1, 1, now() - g * interval '1 hour', 5, 'auto', 'failed' FROM generate_series(1, %(n)s) g",
        {"n": attempts})


def snapshot(conn, table: str) -> list[tuple]:
    return conn.execute(f"SELECT id, {'received_at' if table == 'received_requests' else 'started_at'}"
                        f" FROM {table} ORDER BY id").fetchall()


def test_the_migration_copies_a_small_log_and_the_backfill_moves_a_large_one_while_writes_go_on(copy_url):
    with app_db.connect(copy_url, autocommit=True, row_factory=dict_row) as conn:
        app_db.migrate(conn, through="0018_space_keys")
        fill(conn, received=3000, attempts=60)
        before = {t: snapshot(conn, t) for t in ("received_requests", "delivery_attempts")}
        conn.execute("SET xtracker.partition_copy_max = 1000")
        assert "0019_time_partitions" in app_db.migrate(conn)
        legacy = {r["tablename"] for r in conn.execute("SELECT tablename FROM pg_tables WHERE tablename LIKE '%%legacy'")}
        # 60 attempts were copied by the migration; 3,000 received rows wait for the backfill.
        assert legacy == {"received_requests_legacy"}
        assert snapshot(conn, "delivery_attempts") == before["delivery_attempts"]
        assert conn.execute("SELECT count(*) AS n FROM received_requests").fetchone()["n"] == 0

        # Stopped after two batches, then run again: it resumes where it was.
        columns = partition_backfill.legacy_columns(conn, "received_requests")
        assert partition_backfill.move_batch(conn, "received_requests", columns, 500) == 500
        assert partition_backfill.move_batch(conn, "received_requests", columns, 500) == 500

    written, stop = [], threading.Event()

    def writer():
        with app_db.connect(copy_url, autocommit=True, row_factory=dict_row) as conn:
            while not stop.is_set() and len(written) < 2000:
                written.append(conn.execute(
                    "INSERT INTO received_requests (space_id, received_at, endpoint, status, http_status, uid)"
                    " VALUES (1, now(), 'GET /e', 'queued', 202, 'new') RETURNING id").fetchone()["id"])

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        summary = partition_backfill.backfill(copy_url, batch=100)
    finally:
        stop.set()
        thread.join(30)
    assert summary == [{"table": "received_requests", "moved": 2000, "seconds": summary[0]["seconds"]}]
    assert written, "the writer wrote nothing while the backfill ran"

    with app_db.connect(copy_url, autocommit=True, row_factory=dict_row) as conn:
        assert conn.execute("SELECT to_regclass('received_requests_legacy') AS t").fetchone()["t"] is None
        rows = conn.execute("SELECT id, received_at FROM received_requests WHERE uid <> 'new' ORDER BY id").fetchall()
        assert [tuple(r.values()) for r in rows] == [tuple(r.values()) for r in before["received_requests"]]
        new_ids = [r["id"] for r in conn.execute("SELECT id FROM received_requests WHERE uid = 'new' ORDER BY id")]
        assert new_ids == sorted(written) and min(written) > 3000
        # Every row sits in its day's partition, or in the default one when its day has none.
        misplaced = conn.execute(
            "SELECT count(*) AS n FROM received_requests r WHERE r.tableoid <> coalesce((SELECT i.inhrelid"
            " FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'received_requests'::regclass"
            " AND c.relname = 'received_requests_p' || to_char(r.received_at AT TIME ZONE 'UTC', 'YYYY_MM_DD')),"
            " 'received_requests_default'::regclass)").fetchone()["n"]
        assert misplaced == 0
    # Nothing left: a second run is a no-op.
    assert partition_backfill.backfill(copy_url, batch=100) == []


def test_the_tool_refuses_to_run_without_a_database(monkeypatch, capsys):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert partition_backfill.main([]) == 2
    assert "DATABASE_URL" in capsys.readouterr().err
