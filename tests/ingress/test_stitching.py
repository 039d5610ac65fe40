"""Order-free stitching: any arrival order of a journey's events gives the same journey."""
import itertools
import random

from tests.conftest import bearer

STAGES = ("contact", "subscribed", "registration", "deposit")


def journey(db, uid):
    return db.execute(
        "SELECT contact_at, subscribed_at, registration_at, deposit_at, last_event_at, event_count,"
        " deposit_count, revenue FROM journeys WHERE uid = %s", (uid,)).fetchone()


def send_all(client, space, uid, events):
    for body in events:
        if "eid" in body:
            body = {**body, "eid": f"{uid}-{body['eid']}"}
        r = client.post("/events", json={"uid": uid, **body}, headers=bearer(space))
        assert r.json["status"] == "queued", r.json


def funnel(now_ms):
    return [
        {"event": "contact", "occurred_at_ms": now_ms - 4000},
        {"event": "subscribed", "occurred_at_ms": now_ms - 3000},
        {"event": "registration", "eid": "trader-1", "occurred_at_ms": now_ms - 2000},
        {"event": "deposit", "value": "25.00", "currency": "USD", "eid": "dep-1", "occurred_at_ms": now_ms - 1000},
        {"event": "deposit", "value": "10.50", "currency": "EUR", "eid": "dep-2", "occurred_at_ms": now_ms - 500},
    ]


def test_every_arrival_order_stitches_to_the_same_journey(client, space, clock, db):
    now_ms = int(clock.now.timestamp() * 1000)
    events = funnel(now_ms)
    orders = list(itertools.permutations(range(len(events))))
    random.Random(7).shuffle(orders)
    results = []
    for n, order in enumerate(orders[:12]):
        uid = f"u{n}"
        send_all(client, space, uid, [events[i] for i in order])
        results.append(journey(db, uid))
    assert all(r == results[0] for r in results)
    j = results[0]
    assert j["event_count"] == 5 and j["deposit_count"] == 2
    assert j["revenue"] == {"USD": "25.000000", "EUR": "10.500000"}
    assert int(j["contact_at"].timestamp() * 1000) == now_ms - 4000
    assert int(j["deposit_at"].timestamp() * 1000) == now_ms - 1000
    assert int(j["last_event_at"].timestamp() * 1000) == now_ms - 500


def test_a_deposit_before_any_registration_or_click_lands_on_the_journey(client, space, db):
    send_all(client, space, "late-click", [{"event": "deposit", "value": "5", "eid": "d"}])
    j = journey(db, "late-click")
    assert j["deposit_count"] == 1 and j["registration_at"] is None and j["revenue"] == {"USD": "5.000000"}


def test_duplicates_never_move_the_journey(client, space, clock, db):
    now_ms = int(clock.now.timestamp() * 1000)
    events = funnel(now_ms)
    send_all(client, space, "u", events)
    before = journey(db, "u")
    for body in events:
        body = {**body, "eid": f"u-{body['eid']}"} if "eid" in body else body
        assert client.post("/events", json={"uid": "u", **body}, headers=bearer(space)).json["status"] == "duplicate"
    assert journey(db, "u") == before


def test_backfilled_and_direct_events_stitch_alike(client, space, clock, db):
    now_ms = int(clock.now.timestamp() * 1000)
    events = funnel(now_ms)
    send_all(client, space, "direct", events)
    for body in events:
        body = {**body, "eid": f"tg-{body['eid']}"} if "eid" in body else body
        assert client.post("/events", json={"tg_id": 77, **body}, headers=bearer(space)).json["status"] == "queued"
    client.post("/bind", json={"uid": "via-bind", "tg_id": 77}, headers=bearer(space))
    direct, via_bind = journey(db, "direct"), journey(db, "via-bind")
    assert {k: v for k, v in via_bind.items()} == {k: v for k, v in direct.items()}
