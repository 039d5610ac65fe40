"""The outbox: fan-out in the ingest transaction, a killed worker, a Redis outage, manual retry, replay, live feed."""
import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta

from werkzeug import Response

from app.delivery import manual
from tests.conftest import ROOT, TEST_SECRET_KEY, bearer
from tests.delivery.conftest import (attempts, capi_fields, deliveries, make_destination, run_worker, send_event,
                                     sweep)


def test_it_writes_one_delivery_per_destination_that_maps_the_event(app, client, space, db, httpserver):
    webhook, _ = make_destination(app, space, "webhook", url=httpserver.url_for("/hook"), event_map={"deposit": "dep"})
    postback, _ = make_destination(app, space, "postback", url_template=httpserver.url_for("/pb") + "?e={event}")
    deposit = send_event(client, space, event="deposit", uid="abc", value="5", eid="tx-1")
    contact = send_event(client, space, event="contact", uid="abc")
    again = client.post("/events", json={"event": "deposit", "uid": "abc", "value": "5", "eid": "tx-1"},
                        headers=bearer(space))
    assert again.json["status"] == "duplicate"

    rows = deliveries(db)
    assert sorted((r["event_id"], r["destination_id"], r["event"], r["status"]) for r in rows) == sorted([
        (deposit, webhook.id, "deposit", "pending"), (deposit, postback.id, "deposit", "pending"),
        (contact, postback.id, "contact", "pending")])


def test_a_destination_added_later_gets_history_only_when_replayed(app, client, space, db, httpserver, clock):
    first = send_event(client, space, event="registration", uid="a", eid="r1")
    clock.advance(hours=2)
    second = send_event(client, space, event="registration", uid="b", eid="r2")
    destination, _ = make_destination(app, space, "webhook", url=httpserver.url_for("/hook"))
    httpserver.expect_request("/hook").respond_with_data("ok")
    assert deliveries(db) == []

    with app.app_context():
        assert manual.replay_since(space["id"], destination.id, clock.now - timedelta(hours=1)) == 1
        assert manual.replay_since(space["id"], destination.id, clock.now - timedelta(days=1)) == 1
        assert manual.replay_since(space["id"], destination.id, clock.now - timedelta(days=1)) == 0
    run_worker(app)
    assert sorted(r["event_id"] for r in deliveries(db) if r["status"] == "delivered") == [first, second]
    assert len(httpserver.log) == 2


def test_a_worker_killed_mid_delivery_is_recovered_by_the_sweeper(app, client, space, db, httpserver, clock,
                                                                   servers):
    make_destination(app, space, "webhook", url=httpserver.url_for("/hook"))
    arrived, release = threading.Event(), threading.Event()

    def handler(request):
        if not arrived.is_set():
            arrived.set()
            release.wait(30)
        return Response("ok")

    httpserver.expect_request("/hook").respond_with_handler(handler)
    env = {**os.environ, "DATABASE_URL": servers.database_url, "REDIS_URL": servers.redis_url,
           "SECRET_KEY": TEST_SECRET_KEY, "ALLOW_PRIVATE_DESTINATIONS": "1", "LOG_LEVEL": "WARNING"}
    worker = subprocess.Popen([sys.executable, "-m", "jobs.worker"], cwd=ROOT, env=env, start_new_session=True)
    try:
        send_event(client, space, event="deposit", uid="abc", value="9", eid="tx-9")
        assert arrived.wait(30), "the worker never sent the delivery"
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(10)
    finally:
        if worker.poll() is None:
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait(10)
        release.set()

    (row,) = deliveries(db)
    assert row["status"] == "pending" and attempts(db, row["id"]) == []
    assert not sweep(app), "the lease still holds"
    clock.advance(seconds=app.config["DELIVERY_LEASE_SECONDS"] + 60)
    assert sweep(app)
    run_worker(app)

    (row,) = deliveries(db)
    assert row["status"] == "delivered"
    assert [a["outcome"] for a in attempts(db, row["id"])] == ["delivered"]
    ids = {request.headers["webhook-id"] for request, _ in httpserver.log}
    assert len(httpserver.log) == 2 and len(ids) == 1


def test_events_accepted_while_redis_is_down_are_delivered_after_it_returns(app, client, space, db, httpserver,
                                                                            servers):
    make_destination(app, space, "webhook", url=httpserver.url_for("/hook"))
    httpserver.expect_request("/hook").respond_with_data("ok")
    servers.stop_redis()
    try:
        send_event(client, space, event="deposit", uid="abc", value="3", eid="during-outage")
        time.sleep(0.2)
    finally:
        servers.start_redis()
    assert deliveries(db)[0]["status"] == "pending"

    assert sweep(app)
    run_worker(app)
    assert deliveries(db)[0]["status"] == "delivered"
    assert json.loads(httpserver.log[0][0].get_data())["data"]["eid"] == "during-outage"


def test_a_manual_retry_revives_a_dead_delivery_without_touching_the_schedule(app, client, space, db, httpserver):
    make_destination(app, space, "capi", **capi_fields(app, httpserver))
    path = "/graph/v23.0/1234567890/events"
    httpserver.expect_oneshot_request(path).respond_with_json({"error": {"message": "Bad token", "code": 190}},
                                                              status=401)
    httpserver.expect_request(path).respond_with_json({"events_received": 1})
    send_event(client, space, event="contact", uid="abc")
    run_worker(app)
    (row,) = deliveries(db)
    assert (row["status"], row["attempts"]) == ("dead", 1)
    assert row["last_error"] == "Meta error 190 (HTTP 401): Bad token"

    with app.app_context():
        manual.retry_delivery(space["id"], row["id"])
    run_worker(app)
    (row,) = deliveries(db)
    assert (row["status"], row["attempts"], row["manual_requested_at"]) == ("delivered", 1, None)
    assert [(a["trigger"], a["outcome"]) for a in attempts(db, row["id"])] == [("auto", "dead"),
                                                                              ("manual", "delivered")]


def test_a_failed_manual_retry_keeps_the_automatic_schedule(app, client, space, db, httpserver):
    make_destination(app, space, "webhook", url=httpserver.url_for("/hook"))
    httpserver.expect_request("/hook").respond_with_data("down", status=502)
    send_event(client, space, event="contact", uid="abc")
    run_worker(app)
    (before,) = deliveries(db)

    with app.app_context():
        manual.retry_delivery(space["id"], before["id"])
    run_worker(app)
    (after,) = deliveries(db)
    assert (after["status"], after["attempts"]) == ("failed", 1)
    assert after["next_attempt_at"] == before["next_attempt_at"] == before["auto_next_at"]
    assert [(a["trigger"], a["outcome"]) for a in attempts(db, after["id"])] == [("auto", "failed"),
                                                                                ("manual", "failed")]


def test_a_cell_retry_requests_every_failed_or_dead_delivery_of_the_cell(app, client, space, db, httpserver):
    destination, _ = make_destination(app, space, "webhook", url=httpserver.url_for("/hook"))
    httpserver.expect_request("/hook").respond_with_data("down", status=500)
    for uid in ("a", "b"):
        send_event(client, space, event="registration", uid=uid)
    send_event(client, space, event="contact", uid="c")
    run_worker(app)

    with app.app_context():
        assert manual.retry_cell(space["id"], destination_id=destination.id, event="registration") == 2
    requested = {r["event"] for r in deliveries(db) if r["manual_requested_at"] is not None}
    assert requested == {"registration"}
    httpserver.clear()
    httpserver.expect_request("/hook").respond_with_data("ok")
    run_worker(app)
    assert sorted((r["event"], r["status"]) for r in deliveries(db)) == [
        ("contact", "failed"), ("registration", "delivered"), ("registration", "delivered")]


def test_it_publishes_each_status_change_on_the_live_feed(app, client, space, db, httpserver, redis):
    destination, _ = make_destination(app, space, "webhook", url=httpserver.url_for("/hook"))
    httpserver.expect_request("/hook").respond_with_data("ok")
    subscription = redis.pubsub(ignore_subscribe_messages=True)
    subscription.subscribe(f"xt:space:{space['id']}:feed")
    inbox_id = send_event(client, space, event="contact", uid="abc")
    run_worker(app)

    messages, deadline = [], time.monotonic() + 5
    while time.monotonic() < deadline and not any(m.get("type") == "delivery" for m in messages):
        message = subscription.get_message(timeout=0.2)
        if message:
            messages.append(json.loads(message["data"]))
    subscription.close()
    (row,) = deliveries(db)
    assert {"type": "delivery", "inbox_id": str(inbox_id), "delivery_id": str(row["id"]),
            "destination_id": str(destination.id), "event": "contact", "status": "delivered"} in messages


def test_every_ingest_path_fans_out(app, client, space, db, httpserver):
    destination, _ = make_destination(app, space, "webhook", url=httpserver.url_for("/hook"))
    get = client.get("/e", query_string={"token": space["ingest"], "event": "registration", "uid": "abc", "eid": "r1"})
    assert get.json["status"] == "queued"
    send_event(client, space, event="subscribed", tg_id=777)
    assert sorted(r["event"] for r in deliveries(db)) == ["registration", "subscribed"]
    assert {r["destination_id"] for r in deliveries(db)} == {destination.id}


def test_a_backlog_larger_than_a_batch_is_drained_in_one_wake_up(app, client, space, db, httpserver):
    app.config["DELIVERY_LEASE_SECONDS"] = 30
    from app.delivery import dispatch
    assert dispatch.batch_limit(app) == 30
    make_destination(app, space, "webhook", url=httpserver.url_for("/hook"))
    httpserver.expect_request("/hook").respond_with_data("ok")
    for n in range(75):
        send_event(client, space, event="contact", uid=f"u{n}")
    run_worker(app)
    assert [r["status"] for r in deliveries(db)] == ["delivered"] * 75
    assert len({request.headers["webhook-id"] for request, _ in httpserver.log}) == 75


def test_the_scheduler_sweeps_at_least_every_ten_seconds():
    from jobs import scheduler
    from jobs.delivery import sweep_due_deliveries
    (interval,) = [i for name, i, task in scheduler.PERIODIC if task is sweep_due_deliveries]
    assert interval <= 10


def queued_jobs(redis) -> int:
    from rq import Queue
    return Queue("xt-delivery", connection=redis).count


def test_ingest_wakes_the_workers_once_for_a_burst_and_not_without_destinations(app, client, space, other_space,
                                                                                httpserver, redis):
    send_event(client, other_space, event="contact", uid="nobody-listens")
    time.sleep(0.4)
    assert queued_jobs(redis) == 0

    make_destination(app, space, "webhook", url=httpserver.url_for("/hook"))
    for n in range(5):
        send_event(client, space, event="contact", uid=f"u{n}")
    deadline = time.monotonic() + 5
    while queued_jobs(redis) == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)
    assert queued_jobs(redis) == 1
