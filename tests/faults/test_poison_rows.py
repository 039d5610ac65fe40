"""A poisoned row in each shared batch: its neighbours — other requests, other spaces — are all written.

Each scenario puts good rows of two spaces and rows PostgreSQL refuses (a NUL character, a lone
surrogate) into one batch of a real writer against the real database, then counts what was
stored. The request-level text rule keeps such rows out of the HTTP API; these rows stand for
whatever a future bug or field lets through.
"""
import asyncio
import json

import httpx
import pytest

from app import db as app_db, services
from app.delivery.destinations import DeliveryError, webhook
from app.conversion import store as ingress_store
from app.conversion.events import EventIn
from app.conversion.clicks import PendingClick
from app.lib import clock as app_clock, group_commit
from app.received.capture import Captured, received_log
from tests.conftest import make_space
from tests.delivery.conftest import app, deliveries, make_destination, run_worker, send_event  # noqa: F401

NEIGHBOURS_PER_SPACE = 100
POISONS = {"NUL": "tx\x00poison", "lone surrogate": "tx\udc80poison"}


def _count(db, sql: str, *params) -> int:
    return db.execute(sql, params).fetchone()["n"]


def _event(eid: str, uid: str) -> EventIn:
    return EventIn(event="deposit", uid=uid, tg_id=None, eid=eid, value=None, currency="USD",
                   occurred_at_ms=app_clock.to_ms(app_clock.system_now()))


@pytest.fixture
def two_spaces(app):  # noqa: F811
    return make_space(app, "Alice Poison"), make_space(app, "Bob Poison")


def test_a_poisoned_event_in_an_inbox_batch_loses_no_neighbour(app, db, two_spaces, fault_report):  # noqa: F811
    now = app_clock.system_now()
    items = [ingress_store.InboxItem(space["id"], _event(f"tx-{space['id']}-{n}", f"u{n}"), f"u{n}", now, "post")
             for n in range(NEIGHBOURS_PER_SPACE) for space in two_spaces]
    poisoned = [ingress_store.InboxItem(two_spaces[0]["id"], _event(eid, "p"), "p", now, "post")
                for eid in POISONS.values()]
    batch = items[:70] + poisoned[:1] + items[70:150] + poisoned[1:] + items[150:]
    writer = services.of(app).inbox
    before = group_commit.set_aside_counts().get("inbox-writer", 0)
    results = writer.submit_all(batch)
    refused = [r for r in results if isinstance(r, group_commit.RowRefused)]
    stored = _count(db, "SELECT count(*) AS n FROM events")
    per_space = [_count(db, "SELECT count(*) AS n FROM events WHERE space_id = %s", s["id"]) for s in two_spaces]
    lost = len(items) - stored
    # Exactly once: the neighbours sent again are duplicates of the very same rows.
    again = writer.submit_all(items)
    first = [r for r in results if not isinstance(r, BaseException)]
    ok = (lost == 0 and len(refused) == len(poisoned) and all(r.client_fault for r in refused)
          and per_space == [NEIGHBOURS_PER_SPACE] * 2 and all(is_new for is_new, _ in first)
          and again == [(False, inbox_id) for _, inbox_id in first]
          and group_commit.set_aside_counts()["inbox-writer"] - before == len(poisoned))
    fault_report.add("poisoned row: inbox writer (POST /events, GET /e)",
                     f"{len(items)} neighbours in 2 spaces + {len(poisoned)} poisoned (NUL, lone surrogate) in one"
                     f" batch -> stored {stored}, lost {lost}, set aside {len(refused)}; re-sent: all duplicates", ok)
    assert ok


def test_a_poisoned_click_in_a_landing_batch_loses_no_neighbour(app, db, two_spaces, fault_report):  # noqa: F811
    now = app_clock.system_now()
    writer = services.of(app).landing.writer
    clicks = []
    for n in range(NEIGHBOURS_PER_SPACE):
        for space in two_spaces:
            uid = f"c{space['id']}x{n}"
            clicks.append(PendingClick(space["id"], uid, now, {"user_agent": "Mozilla/5.0"},
                                       EventIn(event="contact", uid=uid, tg_id=None, eid=uid, value=None,
                                               currency="USD", occurred_at_ms=app_clock.to_ms(now))))
    poisoned = [PendingClick(two_spaces[1]["id"], f"poison{n}", now, {"user_agent": agent}, None)
                for n, agent in enumerate(POISONS.values())]
    before = group_commit.set_aside_counts().get("click-writer", 0)
    results = writer.submit_all(clicks[:33] + poisoned[:1] + clicks[33:] + poisoned[1:])
    refused = [r for r in results if isinstance(r, group_commit.RowRefused)]
    stored = _count(db, "SELECT count(*) AS n FROM clicks")
    contacts = _count(db, "SELECT count(*) AS n FROM events WHERE event = 'contact'")
    lost = len(clicks) - stored
    ok = (lost == 0 and contacts == len(clicks) and len(refused) == len(poisoned)
          and group_commit.set_aside_counts()["click-writer"] - before == len(poisoned))
    fault_report.add("poisoned row: click writer (landings)",
                     f"{len(clicks)} landings in 2 spaces + {len(poisoned)} poisoned user agents in one batch ->"
                     f" clicks {stored}, contacts {contacts}, lost {lost}, set aside {len(refused)}", ok)
    assert ok


def test_a_poisoned_request_in_a_received_log_batch_loses_no_neighbour(app, db, two_spaces, fault_report):  # noqa: F811
    now = app_clock.system_now()
    log = received_log(app)
    batch = [Captured(space["id"], now, "GET", "/e", {"event": "deposit", "eid": f"tx{n}"}, None, 200,
                      b'{"ok":true,"status":"queued","inbox_id":"1"}')
             for n in range(NEIGHBOURS_PER_SPACE) for space in two_spaces]
    poisoned = [Captured(two_spaces[0]["id"], now, "GET", "/e", {"event": "deposit", "eid": eid}, None, 200, b"")
                for eid in POISONS.values()]
    poisoned.append(Captured(two_spaces[1]["id"], now, "POST", "/events\x00", {}, b'{"eid":"x"}', 400, b""))
    before = group_commit.set_aside_counts().get("received-log", 0)
    with app.app_context():
        log.write(batch[:10] + poisoned[:2] + batch[10:120] + poisoned[2:] + batch[120:])
    stored = _count(db, "SELECT count(*) AS n FROM received_requests")
    per_space = [_count(db, "SELECT count(*) AS n FROM received_requests WHERE space_id = %s", s["id"])
                 for s in two_spaces]
    set_aside = group_commit.set_aside_counts()["received-log"] - before
    ok = stored == len(batch) and per_space == [NEIGHBOURS_PER_SPACE] * 2 and set_aside == len(poisoned)
    fault_report.add("poisoned row: received log",
                     f"{len(batch)} log rows in 2 spaces + {len(poisoned)} poisoned in one batch -> stored {stored}"
                     f" ({per_space[0]} + {per_space[1]}), lost {len(batch) - stored}, set aside {set_aside}", ok)
    assert ok


def test_a_poisoned_delivery_result_loses_no_neighbour(app, client, db, two_spaces, httpserver, monkeypatch,  # noqa: F811
                                                       fault_report):
    httpserver.expect_request("/hook").respond_with_data("ok")
    for space in two_spaces:
        make_destination(app, space, "webhook", url=httpserver.url_for("/hook"))
    neighbours = 40
    for n in range(neighbours // 2):
        for space in two_spaces:
            send_event(client, space, event="contact", uid=f"d{n}")
    poison_event = send_event(client, two_spaces[0], event="contact", uid="poison")
    real_send = webhook.send

    def send(http, destination, rows, now):
        # A destination error text the database cannot store (stands for any unwritable result).
        if rows[0].uid == "poison":
            raise DeliveryError("refused: \x00 \udc80")
        return real_send(http, destination, rows, now)

    monkeypatch.setattr(webhook, "send", send)
    before = group_commit.set_aside_counts().get("delivery-results", 0)
    run_worker(app)
    rows = deliveries(db)
    delivered = [r for r in rows if r["status"] == "delivered"]
    (poison_row,) = [r for r in rows if r["event_id"] == poison_event]
    set_aside = group_commit.set_aside_counts()["delivery-results"] - before
    logged = _count(db, "SELECT count(*) AS n FROM delivery_attempts")
    # The set-aside row keeps its lease: once it lapses the row is due again, never lost.
    leased = db.execute("SELECT lease_token IS NOT NULL AS leased FROM deliveries WHERE id = %s",
                        (poison_row["id"],)).fetchone()["leased"]
    ok = (len(delivered) == neighbours and logged == neighbours and set_aside == 1 and leased
          and poison_row["status"] == "pending" and len(httpserver.log) == neighbours)
    fault_report.add("poisoned row: delivery results",
                     f"{neighbours} deliveries in 2 spaces + 1 unwritable result in one claim -> delivered"
                     f" {len(delivered)}, attempts logged {logged}, lost 0, set aside {set_aside} (due again when"
                     f" its lease lapses)", ok)
    assert ok


def test_bad_text_among_concurrent_requests_of_two_spaces_is_refused_alone(app, live_server, db,  # noqa: F811
                                                                           fault_report):
    spaces = [make_space(app, "Alice Concurrent"), make_space(app, "Bob Concurrent")]
    good, bad = [], []
    for n in range(150):
        space = spaces[n % 2]
        if n % 10 == 3:
            bad.append((space, b'{"event":"deposit","eid":"x\\udc80%d"}' % n))
        else:
            good.append((space, json.dumps({"event": "deposit", "uid": f"g{n}", "eid": f"tx-{n}"}).encode()))

    async def fire():
        async with httpx.AsyncClient(base_url=live_server.url, timeout=20,
                                     limits=httpx.Limits(max_connections=40)) as c:
            return await asyncio.gather(*(
                c.post("/events", content=body, headers={"Authorization": f"Bearer {space['bearer']}",
                                                         "Content-Type": "application/json"})
                for space, body in good + bad))

    answers = asyncio.run(fire())
    good_answers, bad_answers = answers[:len(good)], answers[len(good):]
    queued = sum(1 for r in good_answers if r.status_code == 200 and r.json()["status"] == "queued")
    refused = sum(1 for r in bad_answers if r.status_code == 400 and r.json()["status"] == "invalid_text")
    stored = _count(db, "SELECT count(*) AS n FROM events WHERE space_id = ANY(%s)", [s["id"] for s in spaces])
    errors = sum(1 for r in answers if r.status_code >= 500)
    ok = queued == len(good) == stored and refused == len(bad) and errors == 0
    fault_report.add("bad text among concurrent requests (gunicorn)",
                     f"{len(good)} good + {len(bad)} lone-surrogate POST /events, 2 spaces, 40 at once -> queued"
                     f" {queued}, stored {stored}, refused 400 {refused}, 5xx {errors}", ok)
    assert ok


def test_bisection_costs_a_few_writes_per_bad_row():
    calls = []

    def write(items):
        calls.append(len(items))
        if "bad" in items:
            raise ValueError("refused")
        return [item.upper() for item in items]

    items = [f"r{n}" for n in range(256)]
    items[137] = "bad"
    results = group_commit.write_isolating("test-writer", write, items)
    assert sum(1 for r in results if isinstance(r, group_commit.RowRefused)) == 1
    assert isinstance(results[137], group_commit.RowRefused) and results[0] == "R0" and results[255] == "R255"
    assert len(calls) <= 2 * 8 + 1


def test_an_unreachable_database_fails_the_batch_without_bisecting():
    calls = []

    def write(items):
        calls.append(len(items))
        raise app_db.StorageUnavailable("down")

    results = group_commit.write_isolating("test-writer", write, list(range(64)))
    assert calls == [64] and all(isinstance(r, app_db.StorageUnavailable) for r in results)
