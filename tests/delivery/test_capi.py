"""Meta Conversions API: the payload field by field, batching, events_received, errors, 7-day guard, click wait."""
import hashlib
import json
from datetime import timedelta

import pytest

from tests.delivery.conftest import (add_click, attempts, capi_fields, deliveries, make_destination, run_worker,
                                     send_event)

GRAPH_PATH = "/graph/v23.0/1234567890/events"
TOKEN = "EAAB-secret-token-value"


def received(httpserver) -> list[dict]:
    return [json.loads(request.get_data()) for request, _ in httpserver.log]


def ms(moment) -> int:
    return int(moment.timestamp() * 1000)


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_it_sends_the_conversions_api_payload_field_by_field(app, client, space, db, httpserver, clock):
    destination, secret = make_destination(app, space, "capi", **capi_fields(app, httpserver, test_event_code="TEST123"))
    assert secret is None
    clicked_at = clock.now - timedelta(minutes=5)
    db.execute("INSERT INTO links (space_id, slug, name, kind, target, created_at, updated_at)"
               " VALUES (%s, 'promo', 'Promo', 'web', 'https://offer.example/', now(), now())", (space["id"],))
    link_id = db.execute("SELECT id FROM links WHERE slug = 'promo'").fetchone()["id"]
    add_click(app, space, "abc", clicked_at, link_id=link_id, link_slug="promo", fbclid="IwAR0xY_Mixed-CASE-9z",
              fbp="fb.1.1700000000000.42", client_ip="203.0.113.7", user_agent="Mozilla/5.0 (Test)")
    httpserver.expect_request(GRAPH_PATH, method="POST").respond_with_json({"events_received": 1, "fbtrace_id": "t"})
    inbox_id = send_event(client, space, event="deposit", uid="abc", tg_id=555, value="25.50", currency="EUR",
                          eid="dep-1", occurred_at_ms=ms(clock.now))
    run_worker(app)

    (body,) = received(httpserver)
    assert body["access_token"] == TOKEN and body["test_event_code"] == "TEST123"
    (event,) = body["data"]
    assert event == {
        "event_name": "Purchase",
        "event_time": ms(clock.now) // 1000,
        "event_id": f"xt-{inbox_id}-{destination.id}",
        "action_source": "website",
        "event_source_url": "http://localhost:8000/promo",
        "user_data": {
            "fbc": f"fb.1.{ms(clicked_at)}.IwAR0xY_Mixed-CASE-9z",
            "fbp": "fb.1.1700000000000.42",
            "client_ip_address": "203.0.113.7",
            "client_user_agent": "Mozilla/5.0 (Test)",
            "external_id": [sha("abc"), sha("555")],
        },
        "custom_data": {"value": 25.5, "currency": "EUR"},
    }
    (row,) = deliveries(db)
    assert row["status"] == "delivered"
    (log,) = attempts(db, row["id"])
    assert TOKEN not in log["request_excerpt"] and "Purchase" in log["request_excerpt"]
    assert TOKEN.encode() not in bytes(db.execute("SELECT secret FROM destinations").fetchone()["secret"])


def test_it_keeps_the_fbc_the_click_recorded_and_maps_the_defaults(app, client, space, httpserver, clock):
    make_destination(app, space, "capi", **capi_fields(app, httpserver))
    add_click(app, space, "abc", clock.now, fbclid="AbC", fbc="fb.1.1699999999999.AbC")
    httpserver.expect_request(GRAPH_PATH).respond_with_json({"events_received": 3})
    for event in ("contact", "subscribed", "registration"):
        send_event(client, space, event=event, uid="abc")
    run_worker(app)

    (body,) = received(httpserver)
    assert [e["event_name"] for e in body["data"]] == ["Contact", "Lead", "CompleteRegistration"]
    assert {e["user_data"]["fbc"] for e in body["data"]} == {"fb.1.1699999999999.AbC"}
    assert {e["action_source"] for e in body["data"]} == {"other"}
    assert all("custom_data" not in e for e in body["data"])


def test_it_retries_the_whole_batch_when_meta_receives_fewer_events(app, client, space, db, httpserver, clock):
    make_destination(app, space, "capi", **capi_fields(app, httpserver))
    counts = iter([2, 3])
    httpserver.expect_request(GRAPH_PATH).respond_with_handler(
        lambda request: __import__("werkzeug").Response(json.dumps({"events_received": next(counts)}),
                                                        content_type="application/json"))
    for n in range(3):
        send_event(client, space, event="registration", uid=f"u{n}")
    run_worker(app)
    rows = deliveries(db)
    assert {r["status"] for r in rows} == {"failed"}
    assert rows[0]["last_error"] == "Meta received 2 of 3 events; the batch is retried"

    clock.advance(seconds=7)
    run_worker(app)
    assert {r["status"] for r in deliveries(db)} == {"delivered"}
    first, second = received(httpserver)
    assert sorted(e["event_id"] for e in first["data"]) == sorted(e["event_id"] for e in second["data"])


def test_it_marks_invalid_parameter_errors_dead_with_metas_message(app, client, space, db, httpserver):
    make_destination(app, space, "capi", **capi_fields(app, httpserver))
    httpserver.expect_request(GRAPH_PATH).respond_with_json(
        {"error": {"message": "Invalid parameter", "type": "OAuthException", "code": 100, "error_subcode": 2804003,
                   "fbtrace_id": "AbC"}}, status=400)
    send_event(client, space, event="contact", uid="abc")
    run_worker(app)
    (row,) = deliveries(db)
    assert row["status"] == "dead"
    assert row["last_error"] == "Meta error 100/2804003 (HTTP 400): Invalid parameter (fbtrace_id AbC)"


@pytest.mark.parametrize("status, error", [
    (500, {"message": "Service temporarily unavailable", "code": 2, "is_transient": True}),
    (400, {"message": "Please retry", "code": 1, "is_transient": True}),
    (429, {"message": "Too many calls", "code": 80004}),
])
def test_it_retries_transient_graph_errors(app, client, space, db, httpserver, clock, status, error):
    make_destination(app, space, "capi", **capi_fields(app, httpserver))
    httpserver.expect_request(GRAPH_PATH).respond_with_json({"error": error}, status=status)
    send_event(client, space, event="contact", uid="abc")
    run_worker(app)
    (row,) = deliveries(db)
    assert row["status"] == "failed" and error["message"] in row["last_error"]
    if status == 429:
        assert row["next_attempt_at"] - clock.now >= timedelta(seconds=60)


def test_it_never_sends_an_event_older_than_seven_days(app, client, space, db, httpserver, clock):
    make_destination(app, space, "capi", **capi_fields(app, httpserver))
    send_event(client, space, event="deposit", uid="abc", value="5", eid="old",
               occurred_at_ms=ms(clock.now - timedelta(days=7, minutes=1)))
    run_worker(app)
    assert httpserver.log == []
    (row,) = deliveries(db)
    assert row["status"] == "dead" and "older than 7 days" in row["last_error"]
    assert [a["outcome"] for a in attempts(db, row["id"])] == ["dead"]


def test_it_waits_for_the_click_then_sends_what_the_click_adds(app, client, space, db, httpserver, clock):
    app.config["CAPI_CLICK_WAIT_SECONDS"] = 3600
    make_destination(app, space, "capi", **capi_fields(app, httpserver))
    httpserver.expect_request(GRAPH_PATH).respond_with_json({"events_received": 1})
    send_event(client, space, event="subscribed", uid="late")
    run_worker(app)
    (row,) = deliveries(db)
    assert httpserver.log == [] and row["status"] == "pending" and row["attempts"] == 0
    assert row["next_attempt_at"] == clock.now + timedelta(seconds=60)

    add_click(app, space, "late", clock.now, fbclid="ClickArrived")
    clock.advance(seconds=61)
    run_worker(app)
    (body,) = received(httpserver)
    assert body["data"][0]["user_data"]["fbc"].endswith(".ClickArrived")
    assert deliveries(db)[0]["status"] == "delivered"


def test_it_sends_without_a_click_once_the_wait_is_over(app, client, space, db, httpserver, clock):
    app.config["CAPI_CLICK_WAIT_SECONDS"] = 3600
    make_destination(app, space, "capi", **capi_fields(app, httpserver))
    httpserver.expect_request(GRAPH_PATH).respond_with_json({"events_received": 1})
    send_event(client, space, event="subscribed", uid="never")
    for _ in range(3):
        run_worker(app)
        clock.advance(minutes=30)
    (body,) = received(httpserver)
    assert body["data"][0]["user_data"] == {"external_id": [sha("never")]}
    assert deliveries(db)[0]["status"] == "delivered"
