"""`flask --app wsgi destination …` and `delivery …`: scripts get JSON, bad input gets a clear error."""
import json

from standardwebhooks import Webhook

from tests.delivery.conftest import deliveries, run_worker, send_event


def invoke(app, *args, input=None):
    result = app.test_cli_runner().invoke(args=list(args), input=input)
    return result.exit_code, json.loads(result.output)


def test_it_creates_a_webhook_and_shows_its_signing_secret_once(app, client, space, httpserver):
    code, created = invoke(app, "destination", "create", space["slug"], "--kind", "webhook", "--url",
                           httpserver.url_for("/hook"), "--json")
    assert code == 0 and created["ok"] is True
    secret = created["signing_secret"]
    assert secret.startswith("whsec_")
    assert created["destination"]["kind"] == "webhook"
    assert created["destination"]["config"] == {"url": httpserver.url_for("/hook")}
    assert created["destination"]["event_map"] == {"contact": "contact", "subscribed": "subscribed",
                                                   "registration": "registration", "deposit": "deposit"}

    code, listed = invoke(app, "destination", "list", space["slug"], "--json")
    assert code == 0 and [d["id"] for d in listed["destinations"]] == [created["destination"]["id"]]
    assert secret not in json.dumps(listed)

    httpserver.expect_request("/hook").respond_with_data("ok")
    send_event(client, space, event="contact", uid="abc")
    run_worker(app)
    (request, _), = httpserver.log
    Webhook(secret).verify(request.get_data(as_text=True), dict(request.headers))


def test_it_creates_a_postback_and_a_capi_destination(app, space, db):
    code, postback = invoke(app, "destination", "create", space["slug"], "--kind", "postback", "--url-template",
                            "https://partner.example/pb?click={uid}&sum={value}", "--method", "POST",
                            "--expect-status", "204", "--off", "contact", "--json")
    assert code == 0 and "signing_secret" not in postback
    assert postback["destination"]["config"] == {"url_template": "https://partner.example/pb?click={uid}&sum={value}",
                                                 "method": "POST", "expect_status": 204}
    assert "contact" not in postback["destination"]["event_map"]

    code, capi = invoke(app, "destination", "create", space["slug"], "--kind", "capi", "--pixel-id", "987654321",
                        "--access-token-stdin", "--test-event-code", "TEST42", "--map", "deposit=Subscribe", "--json",
                        input="EAAG-the-token\n")
    assert code == 0
    assert capi["destination"]["config"] == {"pixel_id": "987654321", "graph_version": "v23.0",
                                             "test_event_code": "TEST42"}
    assert capi["destination"]["event_map"] == {"contact": "Contact", "subscribed": "Lead",
                                                "registration": "CompleteRegistration", "deposit": "Subscribe"}
    assert capi["destination"]["secret_hint"] == "…oken" and "EAAG-the-token" not in json.dumps(capi)
    assert b"EAAG-the-token" not in bytes(db.execute("SELECT secret FROM destinations WHERE kind = 'capi'")
                                          .fetchone()["secret"])


def test_it_explains_bad_input_without_saving_anything(app, space, db):
    for args, message in (
        (("--kind", "postback", "--url-template", "https://p.example/?x={nope}"), "unknown macro {nope}"),
        (("--kind", "webhook", "--url", "not a url"), "must start with http:// or https://"),
        (("--kind", "capi", "--pixel-id", "123"), "--access-token-stdin"),
        (("--kind", "capi", "--pixel-id", "abc", "--access-token-stdin"), "pixel_id is required"),
        (("--kind", "webhook", "--url", "https://h.example/", "--map", "purchase=Buy"), "not a canonical event"),
    ):
        code, answer = invoke(app, "destination", "create", space["slug"], *args, "--json", input="tok\n")
        assert code == 1 and answer["ok"] is False and message in answer["error"]
    code, answer = invoke(app, "destination", "list", "no-such-space", "--json")
    assert code == 1 and "no space" in answer["error"]
    assert db.execute("SELECT count(*) AS n FROM destinations").fetchone()["n"] == 0


def test_it_retries_and_replays_from_the_command_line(app, client, space, db, httpserver, clock):
    code, created = invoke(app, "destination", "create", space["slug"], "--kind", "webhook", "--url",
                           httpserver.url_for("/hook"), "--json")
    destination_id = str(created["destination"]["id"])
    httpserver.expect_oneshot_request("/hook").respond_with_data("down", status=500)
    httpserver.expect_request("/hook").respond_with_data("ok")
    send_event(client, space, event="contact", uid="abc")
    run_worker(app)
    (row,) = deliveries(db)
    assert row["status"] == "failed"

    assert invoke(app, "delivery", "retry", space["slug"], str(row["id"]), "--json") == (0, {"ok": True,
                                                                                              "requested": 1})
    run_worker(app)
    code, log = invoke(app, "delivery", "attempts", space["slug"], str(row["id"]), "--json")
    assert [(a["trigger"], a["outcome"]) for a in log["attempts"]] == [("auto", "failed"), ("manual", "delivered")]

    code, answer = invoke(app, "delivery", "retry", space["slug"], "--json")
    assert code == 1 and "DELIVERY_ID" in answer["error"]
    assert invoke(app, "delivery", "replay-since", space["slug"], destination_id, "1d", "--json") == (
        0, {"ok": True, "queued": 0})
