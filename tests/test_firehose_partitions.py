"""Events and clicks partitioned by day (0026): dedup by event_keys, uids carrying their day, retention
by whole days, and the online move of old rows (the same procedure on 1,000,000 rows:
bench/partition_backfill.py --firehose)."""
import secrets
import sys
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest
from psycopg.rows import dict_row

from app import db as app_db
from app.conversion import store as conversion
from app.conversion.events import EventIn
from app.lib import tokens
from app.partitions.retention import maintain_partitions

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import partition_backfill  # noqa: E402
from tests.test_partition_backfill import with_database  # noqa: E402

NAME = "xt_firehose_test"


def event(eid: str, uid: str | None = "u1", tg_id: int | None = None) -> EventIn:
    return EventIn(event="contact", uid=uid, tg_id=tg_id, eid=eid, value=None, currency="USD", occurred_at_ms=0)


def record(db, space, eid: str, at: datetime, **kw) -> tuple[bool, int]:
    return conversion.record_event(db, space["id"], event(eid, **kw), uid=kw.get("uid", "u1"), received_at=at,
                                   source="post")


def test_a_uid_carries_its_day_in_the_same_alphabet_and_length_and_old_uids_stay_valid(db):
    day = datetime(2026, 3, 4, 23, 59, tzinfo=timezone.utc)
    for _ in range(2000):
        uid = tokens.new_uid(day)
        assert len(uid) == 22 and tokens.UID_RE.fullmatch(uid) and not uid.startswith("-")
        assert tokens.uid_day(uid) == day.date()
    uid = tokens.new_uid(day)
    assert db.execute("SELECT xt_uid_day(%(u)s) AS d", {"u": uid}).fetchone()["d"] == datetime(2026, 3, 4,
                                                                                                tzinfo=timezone.utc)
    # An uid minted before 0026 (token_urlsafe(16)) never reads as a day, in Python or SQL.
    old = [secrets.token_urlsafe(16) for _ in range(2000)]
    assert all(tokens.uid_day(u) is None for u in old)
    assert db.execute("SELECT count(xt_uid_day(u)) AS n FROM unnest(%(u)s::text[]) u", {"u": old}).fetchone()["n"] == 0
    assert tokens.uid_from_start("fb_" + uid) == uid
    # Randomness: 2,000 uids of one day are all different.
    assert len({tokens.new_uid(day) for _ in range(2000)}) == 2000


def test_a_duplicate_is_refused_by_the_key_table_and_the_event_lands_in_its_day(db, space, clock):
    new, first = record(db, space, "a", clock())
    again, same = record(db, space, "a", clock() + timedelta(days=2))
    assert (new, again, same) == (True, False, first)
    assert db.execute("SELECT count(*) AS n FROM events").fetchone()["n"] == 1
    part = db.execute("SELECT tableoid::regclass::text AS p FROM events WHERE id = %(i)s", {"i": first}).fetchone()
    assert part["p"] == f"events_p{clock():%Y_%m_%d}"
    key = db.execute("SELECT * FROM event_keys").fetchall()
    assert [(k["space_id"], k["event_id"]) for k in key] == [(space["id"], first)]


@pytest.mark.usefixtures("partition_days")
def test_events_and_clicks_beyond_retention_go_with_their_day_and_an_events_day_takes_its_keys(app, db, space,
                                                                                               clock):
    new, old_id = record(db, space, "old", clock())
    conversion.create_click(db, space["id"], tokens.new_uid(clock()), clock(), "api", {})
    app.config.update(EVENT_DAYS=30, CLICK_DAYS=30)
    clock.advance(days=32)
    _, recent = record(db, space, "recent", clock())
    with app.app_context():
        assert maintain_partitions() >= 2
    assert [r["id"] for r in db.execute("SELECT id FROM events")] == [recent]
    assert [r["dedup_key"] for r in db.execute("SELECT dedup_key FROM event_keys")] == ["eid:contact:recent"]
    assert db.execute("SELECT count(*) AS n FROM clicks").fetchone()["n"] == 0
    assert db.execute("SELECT count(*) AS n FROM pg_tables WHERE schemaname = 'xt_expired'"
                      " AND tablename LIKE 'events%%'").fetchone()["n"] == 0
    # Retention is the dedup horizon: a copy sent after its day was dropped is recorded anew.
    assert record(db, space, "old", clock())[0] is True
    # The journey keeps its counts.
    assert conversion.get_journey(db, space["id"], "u1")["event_count"] == 3


@pytest.mark.usefixtures("partition_days")
def test_retention_zero_keeps_events_and_clicks(app, db, space, clock):
    record(db, space, "old", clock())
    conversion.create_click(db, space["id"], tokens.new_uid(clock()), clock(), "api", {})
    app.config.update(EVENT_DAYS=0, CLICK_DAYS=0)
    clock.advance(days=400)
    with app.app_context():
        maintain_partitions()
    assert db.execute("SELECT (SELECT count(*) FROM events) + (SELECT count(*) FROM clicks) AS n").fetchone()["n"] == 2


@pytest.fixture
def copy_url(servers):
    admin = with_database(servers.direct_url, "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {NAME}")
        conn.execute(f"CREATE DATABASE {NAME}")
    yield with_database(servers.direct_url, NAME)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {NAME} WITH (FORCE)")


def counters(conn, only: dict | None = None) -> dict:
    """Every rollup and report table's contents, as text: moving old rows must not count them again.

    `only`: the tables of an earlier call (a later migration may add a rollup, filled from existing ones)."""
    names = [r["relname"] for r in conn.execute(
        "SELECT relname FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace"
        " AND (relname LIKE '%%rollup%%' OR relname LIKE 'report%%' OR relname = 'journeys') ORDER BY 1")]
    names = [n for n in names if only is None or n in only]
    assert names
    return {n: conn.execute(f"SELECT coalesce(md5(string_agg(t::text, ',' ORDER BY t::text)), '') AS h FROM {n} t")
            .fetchone()["h"] for n in names}


def test_the_migration_keeps_dedup_and_the_backfill_moves_old_events_and_clicks_without_recounting(copy_url):
    with app_db.connect(copy_url, autocommit=True, row_factory=dict_row) as conn:
        app_db.migrate(conn, through="0025")
        conn.execute("INSERT INTO spaces (slug, name) VALUES ('alice', 'Alice')")
        now = datetime.now(timezone.utc)
        # Old rows as the pre-0026 ingest statement stored them (the rollup triggers count them now).
        items = [conversion.InboxItem(1, event(f"e{i}", uid=f"u{i % 50}"), f"u{i % 50}", now - timedelta(hours=i),
                                      "post") for i in range(1500)]
        items += [conversion.InboxItem(1, event(f"t{i}", uid=None, tg_id=7), None, now, "telegram") for i in range(5)]
        conn.execute(
            "INSERT INTO events (space_id, event, uid, tg_id, eid, currency, occurred_at_ms, received_at, source,"
            " dedup_key) SELECT 1, 'contact', uid, tg_id, eid, 'USD', 0, received_at, source, dedup_key"
            " FROM unnest(%(uid)s::text[], %(tg)s::bigint[], %(eid)s::text[], %(at)s::timestamptz[], %(src)s::text[],"
            " %(key)s::text[]) AS t(uid, tg_id, eid, received_at, source, dedup_key)",
            {"uid": [i.uid for i in items], "tg": [i.event.tg_id for i in items], "eid": [i.event.eid for i in items],
             "at": [i.received_at for i in items], "src": [i.source for i in items],
             "key": [i.event.dedup_key for i in items]})
        conn.execute(
            "INSERT INTO clicks (space_id, uid, created_at, source) SELECT 1, uid, created_at, 'landing'"
            " FROM unnest(%(uid)s::text[], %(at)s::timestamptz[]) AS t(uid, created_at)",
            {"uid": [secrets.token_urlsafe(16) for _ in range(1200)],
             "at": [now - timedelta(hours=i) for i in range(1200)]})
        before = counters(conn)
        events_before = conn.execute("SELECT id, received_at, dedup_key FROM events ORDER BY id").fetchall()
        clicks_before = conn.execute("SELECT uid, created_at FROM clicks ORDER BY uid").fetchall()
        conn.execute("SET xtracker.partition_copy_max = 1000")
        assert "0026_event_click_partitions" in app_db.migrate(conn)
        legacy = {r["tablename"] for r in conn.execute("SELECT tablename FROM pg_tables WHERE tablename LIKE '%%legacy'")}
        assert legacy == {"events_legacy", "clicks_legacy"}
        # Every old key is in event_keys; the uid-less events a bind can still move came over at once.
        assert conn.execute("SELECT count(*) AS n FROM event_keys").fetchone()["n"] == 1505
        assert conn.execute("SELECT count(*) AS n FROM events").fetchone()["n"] == 5
        assert counters(conn, only=before) == before
        # A copy of an old event is still a duplicate, with the old id, while it waits in the legacy table.
        old = conversion.record_events(conn, [items[700]])
        assert old == [(False, events_before[700]["id"])]
        # Moved rows are not counted again by the rollup and report triggers.
        for table in ("events", "clicks"):
            columns = partition_backfill.legacy_columns(conn, table)
            assert partition_backfill.move_batch(conn, table, columns, 300) == 300
        assert counters(conn, only=before) == before

    written, stop = [], threading.Event()

    def writer():
        with app_db.connect(copy_url, autocommit=True, row_factory=dict_row) as conn:
            while not stop.is_set() and len(written) < 300:
                written.append(conversion.record_events(conn, [conversion.InboxItem(
                    1, event(f"new{len(written)}", uid="live"), "live", datetime.now(timezone.utc), "post")])[0])

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        summary = partition_backfill.backfill(copy_url, batch=200)
    finally:
        stop.set()
        thread.join(30)
    assert {s["table"]: s["moved"] for s in summary} == {"events": 1200, "clicks": 900}
    assert written and all(new for new, _ in written)

    with app_db.connect(copy_url, autocommit=True, row_factory=dict_row) as conn:
        assert conn.execute("SELECT to_regclass('events_legacy') IS NULL AND to_regclass('clicks_legacy') IS NULL"
                            " AS gone").fetchone()["gone"]
        after = conn.execute("SELECT id, received_at, dedup_key FROM events WHERE uid IS DISTINCT FROM 'live'"
                             " ORDER BY id").fetchall()
        assert after == events_before
        assert conn.execute("SELECT uid, created_at FROM clicks ORDER BY uid").fetchall() == clicks_before
        assert min(i for _, i in written) > max(r["id"] for r in events_before)
        # Moving rows counted nothing twice: the rollups differ from before only by the live writer's events.
        live = conn.execute("SELECT count(*) AS n FROM events WHERE uid = 'live'").fetchone()["n"]
        assert live == len(written)
        # Every row sits in its day's partition or the default one.
        for table, column in (("events", "received_at"), ("clicks", "created_at")):
            misplaced = conn.execute(
                f"SELECT count(*) AS n FROM {table} r WHERE r.tableoid <> coalesce((SELECT i.inhrelid"
                f" FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = '{table}'::regclass"
                f" AND c.relname = '{table}_p' || to_char(r.{column} AT TIME ZONE 'UTC', 'YYYY_MM_DD')),"
                f" '{table}_default'::regclass)").fetchone()["n"]
            assert misplaced == 0
