"""Time partitions of the append-only logs: days made ahead by pg_partman, whole days dropped by retention."""
from datetime import datetime, timedelta, timezone

import pytest

from app.partitions import store
from app.partitions.retention import maintain_partitions

pytestmark = pytest.mark.usefixtures("partition_days")


def days(db, table: str) -> list[str]:
    """The table's partitions (the default one last)."""
    return [r["name"] for r in db.execute(
        "SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = %(t)s::regclass ORDER BY c.relname LIKE '%%default', c.relname", {"t": table})]


def partition_of(db, table: str, **key) -> str:
    where = " AND ".join(f"{k} = %({k})s" for k in key)
    return db.execute(f"SELECT tableoid::regclass::text AS p FROM {table} WHERE {where}", key).fetchone()["p"]


def add_delivery(db, space: dict, now: datetime) -> int:
    destination = db.execute(
        "INSERT INTO destinations (space_id, kind, name, config, event_map, created_at)"
        " VALUES (%(s)s, 'webhook', 'hook', '{}', '{}', %(now)s) RETURNING id", {"s": space["id"], "now": now}
    ).fetchone()["id"]
    event = db.execute(
        "INSERT INTO events (space_id, event, uid, currency, occurred_at_ms, received_at, source, dedup_key)"
        " VALUES (%(s)s, 'contact', 'u1', 'USD', 0, %(now)s, 'post', 'k1') RETURNING id",
        {"s": space["id"], "now": now}).fetchone()["id"]
    return db.execute(
        "INSERT INTO deliveries (space_id, event_id, destination_id, event, created_at)"
        " VALUES (%(s)s, %(e)s, %(d)s, 'contact', %(now)s) RETURNING id",
        {"s": space["id"], "e": event, "d": destination, "now": now}).fetchone()["id"]


def add_attempt(db, space: dict, delivery_id: int, at: datetime) -> int:
    return db.execute(
        "INSERT INTO delivery_attempts (space_id, delivery_id, started_at, duration_ms, trigger, outcome)"
        " VALUES (%(s)s, %(d)s, %(at)s, 5, 'auto', 'failed') RETURNING id",
        {"s": space["id"], "d": delivery_id, "at": at}).fetchone()["id"]


def add_received(db, space: dict, at: datetime, uid: str) -> int:
    return db.execute(
        "INSERT INTO received_requests (space_id, received_at, endpoint, status, http_status, uid)"
        " VALUES (%(s)s, %(at)s, 'POST /events', 'queued', 202, %(uid)s) RETURNING id",
        {"s": space["id"], "at": at, "uid": uid}).fetchone()["id"]


def day_name(table: str, at: datetime) -> str:
    return f"{table}_p{at.astimezone(timezone.utc):%Y_%m_%d}"


def test_the_logs_are_partitioned_by_day_with_a_week_made_ahead(db):
    today = datetime.now(timezone.utc)
    for table in ("delivery_attempts", "received_requests"):
        names = days(db, table)
        assert names[-1] == f"{table}_default"
        assert day_name(table, today) in names
        assert day_name(table, today + timedelta(days=7)) in names


def test_a_row_is_stored_in_its_days_partition_and_ids_stay_unique(db, space, clock):
    delivery = add_delivery(db, space, clock())
    first = add_attempt(db, space, delivery, clock())
    second = add_attempt(db, space, delivery, clock() + timedelta(days=1))
    assert first != second
    assert partition_of(db, "delivery_attempts", id=first) == day_name("delivery_attempts", clock())
    assert partition_of(db, "delivery_attempts", id=second) == day_name("delivery_attempts", clock() + timedelta(days=1))
    far = add_received(db, space, clock() + timedelta(days=400), "late")
    assert partition_of(db, "received_requests", id=far) == "received_requests_default"


def test_maintenance_makes_the_days_ahead_again_and_moves_rows_that_waited_in_the_default(app, db, space):
    at = datetime.now(timezone.utc) + timedelta(days=7)
    future = day_name("received_requests", at)
    db.execute(f"DROP TABLE {future}")
    waiting = add_received(db, space, at, "early")
    assert partition_of(db, "received_requests", id=waiting) == "received_requests_default"
    with app.app_context():
        maintain_partitions()
    assert future in days(db, "received_requests")
    assert partition_of(db, "received_requests", id=waiting) == future


def test_attempts_beyond_retention_go_with_their_whole_day(app, db, space, clock):
    delivery = add_delivery(db, space, clock())
    old = add_attempt(db, space, delivery, clock())
    app.config["DELIVERY_ATTEMPT_DAYS"] = 30
    # All of today is more than 30 days before the clock (a day that is only partly old stays).
    clock.advance(days=32)
    recent = add_attempt(db, space, delivery, clock())
    with app.app_context():
        assert maintain_partitions() >= 1
    assert day_name("delivery_attempts", datetime.now(timezone.utc)) not in days(db, "delivery_attempts")
    ids = [r["id"] for r in db.execute("SELECT id FROM delivery_attempts ORDER BY id")]
    assert old not in ids and recent in ids
    # The delivery itself stays.
    assert db.execute("SELECT count(*) AS n FROM deliveries").fetchone()["n"] == 1


def test_the_default_partition_is_trimmed_by_the_same_retention(app, db, space, clock):
    delivery = add_delivery(db, space, clock())
    stray = add_attempt(db, space, delivery, clock() - timedelta(days=400))
    kept = add_attempt(db, space, delivery, clock() - timedelta(days=20))
    assert partition_of(db, "delivery_attempts", id=stray) == "delivery_attempts_default"
    app.config["DELIVERY_ATTEMPT_DAYS"] = 30
    with app.app_context():
        maintain_partitions()
    assert [r["id"] for r in db.execute("SELECT id FROM delivery_attempts")] == [kept]


def test_a_dropped_received_day_keeps_the_newest_rows_of_quiet_spaces(app, db, space, other_space, clock):
    app.config["RECEIVED_LOG_DAYS"] = 7
    app.config["RECEIVED_LOG_MIN_ROWS"] = 2
    for n in range(4):
        add_received(db, space, clock(), f"busy{n}")
        add_received(db, other_space, clock(), f"quiet{n}")
    clock.advance(days=9)
    for n in range(3):
        add_received(db, space, clock(), f"busy-new{n}")
    with app.app_context():
        assert maintain_partitions() >= 1
    assert day_name("received_requests", datetime.now(timezone.utc)) not in days(db, "received_requests")
    uids = {r["uid"] for r in db.execute("SELECT uid FROM received_requests")}
    assert uids == {"busy-new0", "busy-new1", "busy-new2", "quiet2", "quiet3"}
    assert partition_of(db, "received_requests", uid="quiet3") == "received_requests_default"
    assert store.list_expired(db, "received_requests") == []


def test_when_several_days_go_at_once_a_quiet_space_keeps_its_newest_rows(app, db, space, clock):
    app.config["RECEIVED_LOG_DAYS"] = 7
    app.config["RECEIVED_LOG_MIN_ROWS"] = 3
    for n, day in enumerate((0, 0, 1, 1)):
        add_received(db, space, clock() + timedelta(days=day, seconds=n), f"r{n}")
    clock.advance(days=10)
    with app.app_context():
        assert maintain_partitions() >= 2
    assert sorted(r["uid"] for r in db.execute("SELECT uid FROM received_requests")) == ["r1", "r2", "r3"]


def test_two_maintenance_runs_at_once_do_not_trip_over_each_other(app, db, space, clock):
    import threading
    add_received(db, space, clock(), "a")
    clock.advance(days=9)
    errors = []

    def run():
        try:
            with app.app_context():
                maintain_partitions()
        except Exception as exc:  # noqa: BLE001 - the test reports any failure
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert [r["uid"] for r in db.execute("SELECT uid FROM received_requests")] == ["a"]


def test_the_scheduler_maintains_the_partitions_hourly():
    from jobs.scheduler import PERIODIC
    assert [(n, i) for n, i, _ in PERIODIC if n == "maintain_partitions"] == [("maintain_partitions", 3600.0)]
