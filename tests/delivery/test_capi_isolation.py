"""Meta Conversions API: events checked before batching, refused batches split until the bad events are alone,
Meta's error details kept, external_id of the uid as minted, an fbc never dated after its event.

The Graph API here is a fake over real HTTP that applies Meta's own rule for Purchase events and
answers with Meta's real error JSON (code 100, subcode 2804010).
"""
import hashlib
import json
from datetime import timedelta

from werkzeug import Response

from tests.conftest import bearer
from tests.delivery.conftest import (add_click, attempts, capi_fields, deliveries, make_destination, run_worker,
                                     send_event)

GRAPH_PATH = "/graph/v23.0/1234567890/events"


def meta_error(title: str, message: str, subcode: int = 2804010, trace: str = "AbCdEf123") -> Response:
    """Meta's error answer, shaped as the Graph API sends it."""
    return Response(json.dumps({"error": {
        "message": "Invalid parameter", "type": "OAuthException", "code": 100, "error_subcode": subcode,
        "is_transient": False, "error_user_title": title, "error_user_msg": message, "fbtrace_id": trace,
    }}), status=400, content_type="application/json")


class FakeGraph:
    """Refuses a whole batch when any event in it breaks Meta's Purchase rule, or a rule given by the test."""

    def __init__(self, refuse=None):
        self.batches: list[list[dict]] = []
        self.refuse = refuse

    def __call__(self, request):
        data = json.loads(request.get_data())["data"]
        self.batches.append(data)
        for event in data:
            custom = event.get("custom_data") or {}
            if event["event_name"] == "Purchase" and not custom.get("currency"):
                return meta_error("Missing Currency for Purchase Event",
                                  "Please add a currency to your purchase event.")
            if self.refuse and self.refuse(event):
                return meta_error("Invalid Value", "The value of the custom_data field is invalid.", 2804019)
        return Response(json.dumps({"events_received": len(data), "fbtrace_id": "ok"}),
                        content_type="application/json")


def by_event(db) -> dict[int, dict]:
    return {row["event_id"]: row for row in deliveries(db)}


def test_three_deposits_on_one_click_the_valueless_one_is_not_sent_and_the_others_are(
        app, client, space, db, httpserver, clock):
    make_destination(app, space, "capi", **capi_fields(app, httpserver))
    add_click(app, space, "Click1", clock.now, fbclid="IwAR1")
    graph = FakeGraph()
    httpserver.expect_request(GRAPH_PATH).respond_with_handler(graph)
    paid = send_event(client, space, event="deposit", uid="Click1", value="25", currency="USD", eid="d-25")
    valueless = send_event(client, space, event="deposit", uid="Click1", eid="d-none")
    zero = send_event(client, space, event="deposit", uid="Click1", value="0", currency="USD", eid="d-0")
    run_worker(app)

    rows = by_event(db)
    assert rows[paid]["status"] == "delivered" and rows[zero]["status"] == "delivered"
    assert rows[valueless]["status"] == "dead"
    assert "value and currency for Purchase" in rows[valueless]["last_error"]
    assert "deposit without value" in rows[valueless]["last_error"]
    sent = [e["custom_data"] for batch in graph.batches for e in batch]
    assert sent == [{"value": 25.0, "currency": "USD"}, {"value": 0.0, "currency": "USD"}]
    (log,) = attempts(db, rows[valueless]["id"])
    assert log["outcome"] == "dead" and log["status_code"] is None


def test_a_non_deposit_mapped_to_purchase_is_not_sent(app, client, space, db, httpserver, clock):
    make_destination(app, space, "capi", **capi_fields(app, httpserver),
                     event_map={"registration": "Purchase", "deposit": "Purchase"})
    graph = FakeGraph()
    httpserver.expect_request(GRAPH_PATH).respond_with_handler(graph)
    registration = send_event(client, space, event="registration", uid="u1")
    run_worker(app)
    assert by_event(db)[registration]["status"] == "dead"
    assert graph.batches == []


def test_an_event_with_nothing_to_match_on_is_not_sent(app, client, space, db, httpserver):
    make_destination(app, space, "capi", **capi_fields(app, httpserver))
    graph = FakeGraph()
    httpserver.expect_request(GRAPH_PATH).respond_with_handler(graph)
    inbox_id = send_event(client, space, event="registration", eid="no-uid-no-user")
    run_worker(app)
    row = by_event(db)[inbox_id]
    assert row["status"] == "dead" and "customer information" in row["last_error"]
    assert graph.batches == []


def test_a_refused_batch_is_split_until_only_the_bad_events_are_dead(app, client, space, db, httpserver, clock):
    make_destination(app, space, "capi", **capi_fields(app, httpserver))
    # A rule XTRACKER does not check before sending: Meta refuses the batch, the split finds the culprits.
    graph = FakeGraph(refuse=lambda event: event["custom_data"]["value"] in (13.0, 666.0))
    httpserver.expect_request(GRAPH_PATH).respond_with_handler(graph)
    values = [10, 11, 12, 13, 14, 15, 16, 666, 18]
    ids = [send_event(client, space, event="deposit", uid=f"u{n}", value=str(v), currency="USD", eid=f"d-{n}")
           for n, v in enumerate(values)]
    run_worker(app)

    rows = by_event(db)
    for inbox_id, value in zip(ids, values):
        assert rows[inbox_id]["status"] == ("dead" if value in (13, 666) else "delivered"), value
    error = rows[ids[3]]["last_error"]
    assert error == ("Meta error 100/2804019 (HTTP 400): Invalid parameter — Invalid Value: The value of the"
                     " custom_data field is invalid. (fbtrace_id AbCdEf123)")
    (log,) = attempts(db, rows[ids[3]]["id"])
    assert log["error"] == error and "2804019" in log["response_excerpt"]
    # 9 → 4 + 5 → (2 + 2 → 1 + 1) + (2 + 3 → 1 + (2 → 1 + 1)): 13 requests, each event in at most 5.
    assert [len(b) for b in graph.batches] == [9, 4, 2, 2, 1, 1, 5, 2, 3, 1, 2, 1, 1]


def test_metas_user_title_message_and_trace_id_are_kept(app, client, space, db, httpserver):
    make_destination(app, space, "capi", **capi_fields(app, httpserver))
    httpserver.expect_request(GRAPH_PATH).respond_with_response(
        meta_error("Missing Currency for Purchase Event", "Please add a currency to your purchase event.",
                   trace="Ax9_trace"))
    inbox_id = send_event(client, space, event="registration", uid="abc")
    run_worker(app)
    row = by_event(db)[inbox_id]
    assert row["status"] == "dead"
    assert row["last_error"] == ("Meta error 100/2804010 (HTTP 400): Invalid parameter — Missing Currency for"
                                 " Purchase Event: Please add a currency to your purchase event."
                                 " (fbtrace_id Ax9_trace)")


def test_transient_errors_keep_the_batch_whole(app, client, space, db, httpserver):
    make_destination(app, space, "capi", **capi_fields(app, httpserver))
    calls = []

    def busy(request):
        calls.append(request)
        return Response(json.dumps({"error": {"message": "Please retry", "code": 2, "is_transient": True,
                                              "fbtrace_id": "t"}}), status=503, content_type="application/json")
    httpserver.expect_request(GRAPH_PATH).respond_with_handler(busy)
    for n in range(4):
        send_event(client, space, event="registration", uid=f"u{n}")
    run_worker(app)
    assert len(calls) == 1
    assert {r["status"] for r in deliveries(db)} == {"failed"}


def test_external_id_is_the_sha256_of_the_uid_exactly_as_minted(app, client, space, httpserver, clock):
    make_destination(app, space, "capi", **capi_fields(app, httpserver))
    graph = FakeGraph()
    httpserver.expect_request(GRAPH_PATH).respond_with_handler(graph)
    send_event(client, space, event="registration", uid="Hq3vX9TfK2mWn8pLr5sYbA", tg_id=555)
    send_event(client, space, event="registration", uid="hq3vx9tfk2mwn8plr5syba")
    run_worker(app)
    external = [e["user_data"]["external_id"] for batch in graph.batches for e in batch]
    assert external == [[hashlib.sha256(b"Hq3vX9TfK2mWn8pLr5sYbA").hexdigest(), hashlib.sha256(b"555").hexdigest()],
                        [hashlib.sha256(b"hq3vx9tfk2mwn8plr5syba").hexdigest()]]
    assert external[0][0] != external[1][0]


def test_an_fbc_is_never_dated_after_its_event(app, client, space, httpserver, clock):
    make_destination(app, space, "capi", **capi_fields(app, httpserver))
    graph = FakeGraph()
    httpserver.expect_request(GRAPH_PATH).respond_with_handler(graph)
    clicked = clock.now - timedelta(minutes=5)
    clicked_ms = int(clicked.timestamp() * 1000)
    add_click(app, space, "late", clicked, fbclid="IwAR_Late", fbc=f"fb.1.{clicked_ms}.IwAR_Late")
    add_click(app, space, "early", clicked, fbclid="IwAR_Early")
    event_ms = clicked_ms - 15 * 60_000
    send_event(client, space, event="registration", uid="late", occurred_at_ms=event_ms)
    send_event(client, space, event="subscribed", uid="late", occurred_at_ms=clicked_ms + 1000)
    send_event(client, space, event="registration", uid="early", occurred_at_ms=event_ms)
    run_worker(app)
    fbcs = [e["user_data"]["fbc"] for batch in graph.batches for e in batch]
    assert fbcs == [f"fb.1.{event_ms}.IwAR_Late", f"fb.1.{clicked_ms}.IwAR_Late", f"fb.1.{event_ms}.IwAR_Early"]


def test_the_client_address_goes_to_meta_in_its_one_form(app, client, space, httpserver, clock):
    make_destination(app, space, "capi", **capi_fields(app, httpserver))
    graph = FakeGraph()
    httpserver.expect_request(GRAPH_PATH).respond_with_handler(graph)
    r = client.post("/clicks", json={"client_ip": "::ffff:198.51.100.4", "user_agent": "Mozilla/5.0"},
                    headers=bearer(space))
    send_event(client, space, event="registration", uid=r.json["uid"])
    run_worker(app)
    (event,) = [e for batch in graph.batches for e in batch]
    assert event["user_data"]["client_ip_address"] == "198.51.100.4"
