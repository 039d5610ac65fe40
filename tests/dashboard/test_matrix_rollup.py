"""The delivery matrix is read from its rollup (sql/migrations/0020_delivery_matrix_rollup.sql): every
range shows exactly what counting the deliveries themselves shows, through inserts, status
changes, test deliveries, local midnights and a change of the space's time zone."""
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from app import close_app, create_app
from app import db as app_db
from app.dashboard.context import matrix_context
from app.reporting.filters import Filters
from app.delivery import store as delivery_store
from app.reporting import maintenance
from app.setup.spaces import save_with_new_time_zone
from tests.conftest import settings
from tests.delivery.conftest import make_destination

STATUSES = ("pending", "failed", "delivered", "dead")
EVENTS = ("contact", "subscribed", "registration", "deposit")


@pytest.fixture
def app(servers, clock):
    """The app allowed to create destinations on local addresses."""
    application = create_app(settings(servers, CLOCK=clock, ALLOW_PRIVATE_DESTINATIONS=True))
    application.config["TESTING"] = True
    yield application
    close_app(application)


def filters(zone: str, first: date, last: date) -> Filters:
    tz = ZoneInfo(zone)
    return Filters("custom", first, last, datetime.combine(first, time.min, tz),
                   datetime.combine(last + timedelta(days=1), time.min, tz), zone, None)


def shown(app, space: dict, f: Filters) -> dict:
    """The matrix partial's counts: {(destination id, event, status): n} of non-zero cells."""
    with app.app_context():
        context = matrix_context(space, f)
    return {(d, e, s): n for (d, e), cell in context["cells"].items() for s, n in cell.items() if n}


def counted(app, space: dict, f: Filters) -> dict:
    """The same counts taken from the deliveries themselves (the raw computation the matrix used to run)."""
    with app.app_context(), app_db.connection() as conn:
        rows = delivery_store.summarize_matrix(conn, space["id"], f.start, f.end)
    return {(r["destination_id"], r["event"], r["status"]): int(r["count"]) for r in rows}


def insert_deliveries(db, space_id: int, rows: list[tuple]) -> None:
    """(destination id, event, status, created_at, test) rows, in one statement as the outbox writes them."""
    db.execute(
        "INSERT INTO deliveries (space_id, event_id, destination_id, event, status, created_at, test)"
        " SELECT %(space)s, (SELECT coalesce(max(event_id), 0) FROM deliveries WHERE space_id = %(space)s) + n,"
        "        d, e, s, c, t"
        " FROM unnest(%(d)s::bigint[], %(e)s::text[], %(s)s::text[], %(c)s::timestamptz[], %(t)s::boolean[])"
        "      WITH ORDINALITY AS k(d, e, s, c, t, n)",
        {"space": space_id, "d": [r[0] for r in rows], "e": [r[1] for r in rows], "s": [r[2] for r in rows],
         "c": [r[3] for r in rows], "t": [r[4] for r in rows]})


def ranges(today: date) -> list[tuple[date, date]]:
    return [(today, today), (today - timedelta(days=1), today - timedelta(days=1)),
            (today - timedelta(days=6), today), (today - timedelta(days=29), today),
            (today - timedelta(days=40), today - timedelta(days=2))]


def assert_same(app, space, zone: str, today: date) -> None:
    for first, last in ranges(today):
        f = filters(zone, first, last)
        assert shown(app, space, f) == counted(app, space, f), (zone, first, last)


def test_the_matrix_rollup_equals_counting_the_deliveries(app, space, other_space, db):
    # India is UTC+05:30: local midnights fall on half hours, so slots near them must land on the right day.
    zone = "Asia/Kolkata"
    db.execute("UPDATE spaces SET time_zone = %s WHERE id = %s", (zone, space["id"]))
    hook, _ = make_destination(app, space, "webhook", name="Hook", url="http://127.0.0.1:9/a")
    other, _ = make_destination(app, space, "webhook", name="Other", url="http://127.0.0.1:9/b")
    foreign, _ = make_destination(app, other_space, "webhook", name="Bob's", url="http://127.0.0.1:9/c")
    tz = ZoneInfo(zone)
    today = datetime.now(tz).date()
    midnight = datetime.combine(today - timedelta(days=3), time.min, tz).astimezone(timezone.utc)
    rows = []
    for i in range(240):
        at = midnight + timedelta(minutes=7 * (i - 120))  # both sides of a local midnight, 7-minute steps
        if i % 17 == 0:
            at = midnight - timedelta(days=i % 35)
        rows.append(((hook if i % 3 else other).id, EVENTS[i % 4], STATUSES[i % 4], at, i % 11 == 0))
    insert_deliveries(db, space["id"], rows)
    insert_deliveries(db, other_space["id"], [(foreign.id, "deposit", "delivered", midnight, False)] * 1)
    assert_same(app, space, zone, today)

    # Status changes, batched as the sender writes them and one by one as retries do.
    db.execute("UPDATE deliveries SET status = 'delivered' WHERE space_id = %s AND status IN ('pending', 'failed')"
               " AND id %% 2 = 0", (space["id"],))
    db.execute("UPDATE deliveries SET status = 'dead' WHERE space_id = %s AND id = ("
               " SELECT min(id) FROM deliveries WHERE space_id = %s AND status = 'delivered' AND NOT test)",
               (space["id"], space["id"]))
    # Updates that change no counted column (claims, schedules) change no count.
    db.execute("UPDATE deliveries SET next_attempt_at = now(), attempts = attempts + 1 WHERE space_id = %s",
               (space["id"],))
    assert_same(app, space, zone, today)

    # Folded by the periodic task as well as by the partial; more deliveries after a fold.
    with app.app_context():
        maintenance.fold_all_spaces()
    insert_deliveries(db, space["id"], [(hook.id, "contact", "pending", midnight, False)] * 3)
    assert_same(app, space, zone, today)

    # A new time zone rebuilds the days, as the space's settings page saves it.
    new_zone = "America/St_Johns"  # UTC-03:30 / -02:30
    with app.app_context():
        save_with_new_time_zone(space["id"], {"name": space["name"], "time_zone": new_zone, "currency": "USD"})
    assert_same(app, space, new_zone, datetime.now(ZoneInfo(new_zone)).date())

    # Nothing of Bob's in Alice's matrix, and his own counts are his.
    f = filters(zone, today - timedelta(days=29), today)
    assert {k[0] for k in shown(app, space, f)} <= {hook.id, other.id}
    assert shown(app, other_space, f) == counted(app, other_space, f) == {(foreign.id, "deposit", "delivered"): 1}
