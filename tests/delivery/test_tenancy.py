"""Cross-space isolation: space A's destinations, deliveries and operator functions never touch space B's."""
from datetime import timedelta

import pytest

from app import db as app_db
from app.delivery import configure, manual, store
from app.space.store import NotFound
from tests.delivery.conftest import deliveries, make_destination, run_worker, send_event


def test_a_destination_of_space_a_never_receives_space_b_events(app, client, space, other_space, db, httpserver):
    make_destination(app, space, "webhook", url=httpserver.url_for("/alice"))
    httpserver.expect_request("/alice").respond_with_data("ok")
    send_event(client, other_space, event="deposit", uid="bob-1", value="100", eid="bob-tx")
    send_event(client, other_space, event="contact", uid="bob-1")
    run_worker(app)
    assert deliveries(db) == [] and httpserver.log == []

    send_event(client, space, event="contact", uid="alice-1")
    run_worker(app)
    (row,) = deliveries(db)
    assert row["space_id"] == space["id"] and len(httpserver.log) == 1


def test_it_checks_ownership_in_every_dashboard_function(app, client, space, other_space, db, httpserver, clock):
    destination, _ = make_destination(app, space, "webhook", url=httpserver.url_for("/alice"))
    httpserver.expect_request("/alice").respond_with_data("down", status=500)
    send_event(client, space, event="contact", uid="alice-1")
    run_worker(app)
    (row,) = deliveries(db)
    start, end = clock.now - timedelta(days=1), clock.now + timedelta(days=1)
    bob = other_space["id"]

    with app.app_context():
        with app_db.connection() as conn:
            assert store.list_destinations(conn, bob) == []
            assert store.summarize_matrix(conn, bob, start, end) == []
            assert store.list_cell_deliveries(conn, bob, destination.id, "contact", start=start, end=end) == []
            for call in (lambda: store.get_delivery(conn, bob, row["id"]),
                         lambda: store.list_attempts(conn, bob, row["id"]),
                         lambda: store.get_destination(conn, bob, destination.id)):
                with pytest.raises(NotFound):
                    call()
            assert store.summarize_matrix(conn, space["id"], start, end) == [
                {"destination_id": destination.id, "event": "contact", "status": "failed", "count": 1}]
            (cell,) = store.list_cell_deliveries(conn, space["id"], destination.id, "contact",
                                                 statuses=("failed",), start=start, end=end)
            assert (cell["id"], cell["last_error"], cell["uid"]) == (row["id"], "HTTP 500", "alice-1")
            assert [a["outcome"] for a in store.list_attempts(conn, space["id"], row["id"])] == ["failed"]
        for call in (lambda: manual.retry_delivery(bob, row["id"]),
                     lambda: manual.replay_since(bob, destination.id, start),
                     lambda: configure.set_event_map(bob, destination.id, {"contact": "x"}),
                     lambda: configure.rotate_webhook_secret(bob, destination.id),
                     lambda: configure.pause(bob, destination.id),
                     lambda: configure.resume(bob, destination.id)):
            with pytest.raises(NotFound):
                call()
        assert manual.retry_cell(bob, destination_id=destination.id) == 0
    (after,) = deliveries(db)
    assert after["manual_requested_at"] is None
    assert db.execute("SELECT paused_at, event_map FROM destinations").fetchone() == {
        "paused_at": None, "event_map": {"contact": "contact", "subscribed": "subscribed",
                                         "registration": "registration", "deposit": "deposit"}}


def test_the_cli_refuses_another_spaces_destination(app, space, other_space, httpserver):
    destination, _ = make_destination(app, space, "webhook", url=httpserver.url_for("/alice"))
    runner = app.test_cli_runner()
    for args in (["destination", "map", other_space["slug"], str(destination.id), "--off", "contact", "--json"],
                 ["destination", "pause", other_space["slug"], str(destination.id), "--json"],
                 ["delivery", "replay-since", other_space["slug"], str(destination.id), "7d", "--json"]):
        result = runner.invoke(args=args)
        assert result.exit_code == 1
        assert f"no destination {destination.id} in this space" in result.output
