"""Webhook destinations: the documented payload, Standard Webhooks signatures, stable ids across retries."""
import json

from standardwebhooks import Webhook
from werkzeug import Response

from tests.delivery.conftest import attempts, deliveries, make_destination, run_worker, send_event


def test_it_posts_the_documented_payload_signed_per_standard_webhooks(app, client, space, db, httpserver):
    destination, secret = make_destination(app, space, "webhook", url=httpserver.url_for("/hook"))
    httpserver.expect_oneshot_request("/hook", method="POST").respond_with_data("ok")
    inbox_id = send_event(client, space, event="deposit", uid="abc", value="25.50", currency="eur", eid="tx-1")
    run_worker(app)

    (request, response), = httpserver.log
    body = Webhook(secret).verify(request.get_data(as_text=True), dict(request.headers))
    stable_id = f"xt-{inbox_id}-{destination.id}"
    assert request.headers["webhook-id"] == stable_id
    assert request.headers["content-type"] == "application/json"
    assert body["type"] == "conversion"
    data = body["data"]
    assert data["id"] == stable_id
    assert data["event"] == "deposit" and data["event_name"] == "deposit"
    assert data["inbox_id"] == str(inbox_id)
    assert data["space"] == space["slug"]
    assert (data["uid"], data["eid"], data["value"], data["currency"]) == ("abc", "tx-1", "25.5", "EUR")
    assert data["tg_id"] is None and data["click"] is None
    assert data["source"] == "post" and data["flags"] == []
    assert data["occurred_at"].endswith("Z") and isinstance(data["occurred_at_ms"], int)
    (row,) = deliveries(db)
    assert (row["status"], row["attempts"], row["last_status_code"]) == ("delivered", 1, 200)


def test_it_keeps_the_webhook_id_stable_across_retries(app, client, space, db, httpserver, clock):
    destination, secret = make_destination(app, space, "webhook", url=httpserver.url_for("/hook"))
    answers = iter([Response("down", status=500), Response("ok", status=200)])
    httpserver.expect_request("/hook").respond_with_handler(lambda request: next(answers))
    send_event(client, space, event="registration", uid="abc", eid="reg-1")

    run_worker(app)
    (row,) = deliveries(db)
    assert (row["status"], row["attempts"], row["last_status_code"]) == ("failed", 1, 500)
    clock.advance(seconds=7)
    run_worker(app)

    ids = [request.headers["webhook-id"] for request, _ in httpserver.log]
    assert len(ids) == 2 and ids[0] == ids[1]
    for request, _ in httpserver.log:
        Webhook(secret).verify(request.get_data(as_text=True), dict(request.headers))
    (row,) = deliveries(db)
    assert (row["status"], row["attempts"]) == ("delivered", 2)
    log = attempts(db, row["id"])
    assert [(a["trigger"], a["outcome"], a["status_code"]) for a in log] == [
        ("auto", "failed", 500), ("auto", "delivered", 200)]
    assert log[0]["response_excerpt"] == "down"
    assert json.loads(log[1]["request_excerpt"].split("\n\n", 1)[1])["data"]["eid"] == "reg-1"


def test_it_signs_with_the_old_secret_too_while_a_rotation_is_in_grace(app, client, space, httpserver):
    destination, old_secret = make_destination(app, space, "webhook", url=httpserver.url_for("/hook"))
    with app.app_context():
        from app.delivery import configure
        _, new_secret = configure.rotate_webhook_secret(space["id"], destination.id)
    httpserver.expect_request("/hook").respond_with_data("ok")
    send_event(client, space, event="contact", uid="abc")
    run_worker(app)

    (request, _), = httpserver.log
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    for secret in (new_secret, old_secret):
        Webhook(secret).verify(request.get_data(as_text=True), dict(request.headers))


def test_it_does_not_follow_redirects(app, client, space, db, httpserver):
    make_destination(app, space, "webhook", url=httpserver.url_for("/hook"))
    httpserver.expect_request("/hook").respond_with_data("", status=302,
                                                         headers={"Location": httpserver.url_for("/elsewhere")})
    send_event(client, space, event="contact", uid="abc")
    run_worker(app)
    (row,) = deliveries(db)
    assert (row["status"], row["last_status_code"]) == ("failed", 302)
    assert [request.path for request, _ in httpserver.log] == ["/hook"]
