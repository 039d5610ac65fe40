"""XTRACKER behind PgBouncer in transaction mode, in every run (README: "Deploying behind PgBouncer").

A PgBouncer of its own sits in front of a fresh database of the run's PostgreSQL. Two of its pools
have a single server connection, so every client connection of the app shares one server
session: a statement prepared by one would collide with (or be missing for) the next, and a
session lock taken by one would be released, or kept, by another. The whole suite also runs
through a pooler with `make test PGBOUNCER=1`.
"""
import threading
import time
from datetime import timedelta
from urllib.parse import urlparse, urlunparse

import psycopg
import pytest

from app import close_app, create_app, db as app_db
from app.lib import clock as clock_lib
from app.reporting import store as reporting
from app.setup.spaces import save_with_new_time_zone
from tests.conftest import bearer, make_space, pgbouncer_requested, services, settings
from tests.dashboard.conftest import make_user, send_event, sign_in
from tests.setup.test_spaces import expected_contacts, funnel_contacts, save

DATABASE = "xtracker_bouncer_test"
SINGLE = "xt_single_test"    # the app's pool: one server connection behind every client connection
CONTROL = "xt_control_test"  # the same database, another one-connection pool for the control


def direct_url(servers, database: str) -> str:
    return urlunparse(urlparse(servers.direct_url)._replace(path="/" + database))


@pytest.fixture(scope="module")
def bouncer(servers):
    """pgbouncer (pool_mode=transaction) in front of a fresh database of the run's PostgreSQL."""
    with psycopg.connect(servers.direct_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DATABASE}")
    pooler = services.PgBouncer(servers.base / "pgbouncer-focused", servers.direct_url, pool_size=4,
                                pools={SINGLE: (DATABASE, 1), CONTROL: (DATABASE, 1)}).start()
    try:
        yield pooler
    finally:
        pooler.stop()
        with psycopg.connect(servers.direct_url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")


def advisory_locks(servers) -> list[tuple]:
    """Advisory locks held or awaited in the pooled database, read straight from PostgreSQL."""
    with psycopg.connect(direct_url(servers, DATABASE), autocommit=True) as conn:
        return conn.execute("SELECT l.pid, l.objid, l.granted FROM pg_locks l JOIN pg_database d ON d.oid = l.database"
                            " WHERE l.locktype = 'advisory' AND d.datname = %s", (DATABASE,)).fetchall()


def test_the_run_connects_through_pgbouncer_exactly_when_asked(servers):
    if pgbouncer_requested():
        assert servers.bouncer is not None and servers.database_url == servers.bouncer.url(urlparse(servers.direct_url).path.lstrip("/"))
        assert servers.database_url != servers.direct_url
        with app_db.connect(servers.database_url, autocommit=True) as conn:
            assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == len(app_db.migration_files())
    else:
        assert servers.bouncer is None and servers.database_url == servers.direct_url


def test_the_pooler_shares_one_server_session_and_our_connections_prepare_nothing(bouncer):
    url = bouncer.url(CONTROL)
    # Control: psycopg's defaults prepare a statement on its 5th run, as _pg3_0 on the server session
    # that both client connections share, so the second connection's _pg3_0 collides.
    with psycopg.connect(url, autocommit=True) as first, psycopg.connect(url, autocommit=True) as second:
        for _ in range(8):
            first.execute("SELECT %s::int + 1", (1,))
        with pytest.raises(psycopg.errors.DuplicatePreparedStatement):
            for _ in range(8):
                second.execute("SELECT %s::int + 2", (1,))
    # XTRACKER's connections never prepare, on that same session where _pg3_0 is still taken.
    with app_db.connect(url, autocommit=True) as first, app_db.connect(url, autocommit=True) as second:
        for n in range(20):
            assert first.execute("SELECT %s::int + 1", (n,)).fetchone()[0] == n + 1
            assert second.execute("SELECT %s::int + 2", (n,)).fetchone()[0] == n + 2


def test_concurrent_migrations_through_the_pooler_apply_each_version_once_and_release_the_lock(bouncer, servers):
    versions = [version for version, _ in app_db.migration_files()]
    results: list[list[str]] = []
    errors: list[BaseException] = []

    def migrate():
        try:
            with app_db.connect(bouncer.url(DATABASE), autocommit=True) as conn:
                results.append(app_db.migrate(conn))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=migrate) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    assert sorted(v for applied in results for v in applied) == versions
    with psycopg.connect(direct_url(servers, DATABASE), autocommit=True) as conn:
        assert [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY 1")] == versions
    assert advisory_locks(servers) == []
    with app_db.connect(bouncer.url(SINGLE), autocommit=True) as conn:
        assert app_db.migrate(conn) == []


def test_ingest_the_deck_and_a_time_zone_rebuild_work_through_one_pooled_server_session(bouncer, servers, clock):
    with app_db.connect(bouncer.url(DATABASE), autocommit=True) as conn:
        app_db.migrate(conn)
    app = create_app(settings(servers, DATABASE_URL=bouncer.url(SINGLE), CLOCK=clock, DB_POOL_MAX=4))
    app.config["TESTING"] = True
    try:
        space = make_space(app, "Bouncer Funnel")
        user = make_user(app, "bouncer-admin@example.com", [(space, "admin")])
        admin = app.test_client()
        assert sign_in(admin, user["email"]).status_code == 302
        now = clock.now
        moments = [now - timedelta(hours=h, minutes=1) for h in range(30)]
        for n, moment in enumerate(moments):
            send_event(admin, space, event="contact", uid=f"hourly-{n}", occurred_at_ms=clock_lib.to_ms(moment))
        assert send_event(admin, space, event="contact", uid="hourly-0",
                          occurred_at_ms=clock_lib.to_ms(moments[0]))["status"] == "duplicate"
        bound = admin.post("/bind", json={"uid": "hourly-1", "tg_id": 4242}, headers=bearer(space))
        assert bound.status_code == 200, bound.get_data(as_text=True)
        # A uid-less event takes the Telegram user's transaction-level lock, then lands on the bound uid.
        send_event(admin, space, event="registration", tg_id=4242, occurred_at_ms=clock_lib.to_ms(moments[1]))
        before = expected_contacts(moments, "UTC", now)
        assert {p: funnel_contacts(admin, space, p) for p in before} == before
        # The rebuild takes the fold lock inside its transaction: nothing is left held afterwards.
        assert save(admin, space, time_zone="Asia/Kolkata").headers["Location"].endswith("done=rebuilt")
        assert advisory_locks(servers) == []
        after = expected_contacts(moments, "Asia/Kolkata", now)
        assert {p: funnel_contacts(admin, space, p) for p in after} == after
        # Back and forth: each save waits for no lock a previous transaction left behind.
        assert save(admin, space, time_zone="UTC").headers["Location"].endswith("done=rebuilt")
        assert save(admin, space, time_zone="Asia/Kolkata").headers["Location"].endswith("done=rebuilt")
        assert {p: funnel_contacts(admin, space, p) for p in after} == after
        assert advisory_locks(servers) == []
    finally:
        close_app(app)


@pytest.mark.parametrize("history", [True, False], ids=["with-history", "empty-space"])
def test_a_fold_committed_while_a_rebuild_waits_for_the_lock_is_counted_once_in_the_new_zone(
        app, client, db, space, clock, servers, history):
    # 20:00 UTC is already the next day in Asia/Kolkata (+05:30).
    early = clock.now.replace(hour=20, minute=0, second=0) - timedelta(days=3)
    late = early + timedelta(days=1)
    if history:
        send_event(client, space, event="contact", uid="early", occurred_at_ms=clock_lib.to_ms(early))
        with app.app_context(), app_db.connection() as conn:
            reporting.fold(conn, space["id"])
    # A fold is under way: it holds the space's fold lock.
    folder = psycopg.connect(servers.direct_url)
    try:
        folder.execute("SELECT rollup_fold_lock(%s)", (space["id"],))
        errors: list[BaseException] = []

        def rebuild():
            try:
                with app.app_context():
                    save_with_new_time_zone(space["id"], {"name": space["name"], "time_zone": "Asia/Kolkata",
                                                          "currency": space["currency"]})
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        saver = threading.Thread(target=rebuild)
        saver.start()
        deadline = time.monotonic() + 20
        while not db.execute("SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted").fetchone():
            assert time.monotonic() < deadline, "the rebuild never waited for the fold lock"
            time.sleep(0.02)
        # The rebuild's snapshot is taken; this deposit commits after it and the running fold folds it
        # (with the old zone) and commits before the rebuild gets the lock.
        send_event(client, space, event="deposit", uid="late", value="10.00", currency="USD", eid="d-1",
                   occurred_at_ms=clock_lib.to_ms(late))
        folder.execute("SELECT fold_rollups(%s)", (space["id"],))
        folder.execute("SELECT fold_reports(%s)", (space["id"],))
        folder.commit()
        saver.join(60)
        assert not saver.is_alive() and not errors, errors
    finally:
        folder.close()
    query = ("SELECT link_slug, day, kind, currency, n, amount FROM rollup_days WHERE space_id = %s AND n <> 0"
             " ORDER BY 1, 2, 3, 4")
    kept = db.execute(query, (space["id"],)).fetchall()
    deposits = [r for r in kept if r["kind"] == "event:deposit" and r["link_slug"] == "*"]
    assert [(r["day"], r["n"]) for r in deposits] == [(late.date() + timedelta(days=1), 1)]
    reports = ("SELECT day, link_slug, currency, deposits, revenue FROM report_days WHERE space_id = %s"
               " AND deposits <> 0 ORDER BY 1, 2, 3")
    kept_reports = db.execute(reports, (space["id"],)).fetchall()
    assert [(r["day"], r["deposits"]) for r in kept_reports] == [(late.date() + timedelta(days=1), 1)]
    db.execute("SELECT deck_rebuild(%s)", (space["id"],))
    db.execute("SELECT report_rebuild(%s)", (space["id"],))
    assert kept == db.execute(query, (space["id"],)).fetchall()
    assert kept_reports == db.execute(reports, (space["id"],)).fetchall()
