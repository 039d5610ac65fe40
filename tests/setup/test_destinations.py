"""The destinations screen: list, add, edit, event maps, pause/resume, rotate, and real test sends."""
import json
import re
from pathlib import Path

import pytest
from standardwebhooks import Webhook

from app import close_app, create_app, services
from app.delivery import configure
from app.delivery.destinations import postback
from tests.conftest import LiveServer, free_port, screenshot, settings
from tests.delivery.conftest import capi_fields, deliveries, make_destination
from tests.setup.conftest import browser_sign_in, html, make_user, send_event, sign_in

TOKEN = "EAAB-secret-token-value"
DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.fixture
def app(servers, clock):
    """The app allowed to call the local HTTP sink (as in tests/delivery), with short timeouts."""
    application = create_app(settings(servers, CLOCK=clock, ALLOW_PRIVATE_DESTINATIONS=True,
                                      DELIVERY_READ_TIMEOUT=1.0, DELIVERY_CONNECT_TIMEOUT=1.0))
    application.config["TESTING"] = True
    yield application
    close_app(application)


def url(space: dict, tail: str = "") -> str:
    return f"/spaces/{space['slug']}/destinations/{tail}"


def csrf(client, space: dict) -> str:
    page = html(client.get(url(space)))
    return page.select_one("form.logout input[name=csrf_token]")["value"]


def post(client, space: dict, tail: str, data: dict | None = None, **kwargs):
    return client.post(url(space, tail), data={"csrf_token": csrf(client, space), **(data or {})}, **kwargs)


def map_form(names: dict, off: tuple = ()) -> dict:
    form = {f"map_{event}": name for event, name in names.items()}
    form.update({f"off_{event}": "1" for event in off})
    return form


CAPI_DEFAULTS = map_form(configure.KINDS["capi"].DEFAULT_EVENT_MAP)
CANONICAL = map_form(configure.KINDS["webhook"].DEFAULT_EVENT_MAP)


def stored(db, destination_id: int) -> dict:
    return db.execute("SELECT name, config, event_map, secret, secret_hint, paused_at, paused_reason"
                      " FROM destinations WHERE id = %s", (destination_id,)).fetchone()


# --- the list ------------------------------------------------------------------------------------

def test_it_lists_each_destination_with_kind_state_map_target_and_counts_never_a_secret(
        app, client, login, space, other_space, httpserver):
    capi, _ = make_destination(app, space, "capi", name="Meta main", event_map={"deposit": "Purchase"},
                               **capi_fields(app, httpserver, test_event_code="TEST123"))
    hook, secret = make_destination(app, space, "webhook", url="https://hooks.partner.example/xt")
    pb, _ = make_destination(app, space, "postback", url_template="https://pb.partner.example/p?c={uid}&g={event_name}")
    make_destination(app, other_space, "webhook", name="Bob's hook", url="https://bob.example/h")
    with app.app_context():
        configure.pause(space["id"], pb.id, reason="paused by ops@example.com")
    send_event(client, space, event="deposit", uid="u1", value="5", eid="d1")
    send_event(client, other_space, event="deposit", uid="u1", value="5", eid="d1")

    response = login("viewer").get(url(space))
    assert response.status_code == 200
    page = html(response)
    rows = page.select("#destinations tbody tr")
    assert [r["id"] for r in rows] == [f"destination-{capi.id}", f"destination-{hook.id}", f"destination-{pb.id}"]
    first = page.select_one(f"#destination-{capi.id}")
    assert first.select_one(".kind").get_text(strip=True) == "Meta CAPI"
    assert first.select_one(".state .badge").get_text(strip=True) == "enabled"
    assert "1234567890" in first.select_one(".target").get_text() and "TEST123" in first.select_one(".target").get_text()
    summary = {li["data-event"]: li.get_text(" ", strip=True) for li in first.select(".map-summary li")}
    assert summary["deposit"] == "deposit → Purchase" and "not sent" in summary["contact"]
    assert first.select_one('.counts [data-status="pending"]').get_text(strip=True) == "1 pending"
    assert page.select_one(f"#destination-{hook.id} .target code").get_text() == "https://hooks.partner.example/xt"
    hook_counts = page.select_one(f"#destination-{hook.id} .counts")
    assert hook_counts.select_one('[data-status="delivered"]').get_text(strip=True) == "0 delivered"
    assert hook_counts.select_one('[data-status="pending"]').get_text(strip=True) == "1 pending"
    paused = page.select_one(f"#destination-{pb.id} .state")
    assert "paused" in paused.get_text() and "ops@example.com" in paused.get_text()
    text = response.get_data(as_text=True)
    assert TOKEN not in text and secret not in text and secret[-4:] in text
    assert "Bob's hook" not in text
    # A viewer sees no admin buttons.
    assert page.select_one("#add-destination") is None and page.select("form.pause") == []


def test_it_shows_admins_the_add_edit_and_pause_controls(app, login, space):
    destination, _ = make_destination(app, space, "webhook", url="https://hooks.partner.example/xt")
    page = html(login("admin").get(url(space)))
    assert page.select_one("#add-capi")["href"].endswith("/new?kind=capi")
    row = page.select_one(f"#destination-{destination.id}")
    assert row.select_one("a.edit")["href"] == url(space, f"{destination.id}/edit")
    assert row.select_one("form.pause")["action"] == url(space, f"{destination.id}/pause")


def test_it_says_when_there_are_no_destinations(login, space):
    page = html(login("operator").get(url(space)))
    assert page.select_one("#no-destinations") is not None


# --- access --------------------------------------------------------------------------------------

ADMIN_GETS = ("new?kind=webhook", "{id}/edit")
ADMIN_POSTS = ("new?kind=webhook", "{id}/edit", "{id}/pause", "{id}/resume", "{id}/rotate-secret", "{id}/test")


def test_it_sends_anonymous_visitors_to_login(app, client, space):
    destination, _ = make_destination(app, space, "webhook", url="https://hooks.partner.example/xt")
    for tail in ("",) + ADMIN_GETS:
        response = client.get(url(space, tail.format(id=destination.id)))
        assert response.status_code == 302 and "/login" in response.headers["Location"]
    response = client.post(url(space, f"{destination.id}/pause"))
    assert response.status_code == 302 and "/login" in response.headers["Location"]


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_it_refuses_admin_actions_below_admin(app, login, space, db, role):
    destination, _ = make_destination(app, space, "webhook", url="https://hooks.partner.example/xt")
    client = login(role)
    for tail in ADMIN_GETS:
        assert client.get(url(space, tail.format(id=destination.id))).status_code == 403
    for tail in ADMIN_POSTS:
        response = post(client, space, tail.format(id=destination.id),
                        {"url": "https://x.example/h", "event": "contact", **CANONICAL})
        assert response.status_code == 403, tail
    assert stored(db, destination.id)["paused_at"] is None
    assert db.execute("SELECT count(*) AS n FROM destinations").fetchone()["n"] == 1


def test_it_checks_ownership(app, login, space, other_space, db, httpserver):
    """A member of another space gets 404s; another space's destination id is a 404 on every route."""
    mine, _ = make_destination(app, space, "webhook", url=httpserver.url_for("/mine"))
    theirs, _ = make_destination(app, other_space, "webhook", url=httpserver.url_for("/theirs"))
    outsider = login("admin", in_space=other_space)
    assert outsider.get(url(space)).status_code == 404
    assert outsider.get(url(space, "new?kind=webhook")).status_code == 404
    token = csrf(outsider, other_space)
    assert outsider.post(url(space, "new?kind=webhook"), data={"csrf_token": token, "url": "https://x.example/h",
                                                               **CANONICAL}).status_code == 404
    for tail in ADMIN_POSTS[1:]:
        assert outsider.post(url(space, tail.format(id=mine.id)), data={"csrf_token": token}).status_code == 404

    admin = login("admin")
    assert admin.get(url(space, f"{theirs.id}/edit")).status_code == 404
    for tail in ADMIN_POSTS[1:]:
        response = post(admin, space, tail.format(id=theirs.id),
                        {"url": "https://x.example/h", "event": "contact", **CANONICAL})
        assert response.status_code == 404, tail
    untouched = stored(db, theirs.id)
    assert untouched["config"]["url"] == httpserver.url_for("/theirs") and untouched["paused_at"] is None
    assert httpserver.log == []


def test_it_refuses_posts_without_the_csrf_token(app, login, space, db):
    destination, _ = make_destination(app, space, "webhook", url="https://hooks.partner.example/xt")
    client = login("admin")
    for tail in ADMIN_POSTS:
        response = client.post(url(space, tail.format(id=destination.id)),
                               data={"url": "https://x.example/h", "event": "contact", **CANONICAL})
        assert response.status_code == 403, tail
    assert stored(db, destination.id)["paused_at"] is None


# --- adding --------------------------------------------------------------------------------------

def test_it_offers_the_three_kinds_and_each_kinds_defaults(login, space):
    client = login("admin")
    choose = html(client.get(url(space, "new")))
    assert [a["id"] for a in choose.select("#kinds a")] == ["choose-capi", "choose-webhook", "choose-postback"]
    page = html(client.get(url(space, "new?kind=capi")))
    assert [page.select_one(f"#f-map_{e}")["value"] for e in ("contact", "subscribed", "registration", "deposit")] \
        == ["Contact", "Lead", "CompleteRegistration", "Purchase"]
    assert page.select_one("#f-access_token")["type"] == "password"
    assert page.select_one("#f-graph_version")["value"] == "v23.0"
    postback_page = html(client.get(url(space, "new?kind=postback")))
    assert [td.get_text() for td in postback_page.select("#macros code")] == ["{" + m + "}" for m in postback.MACROS]
    assert postback_page.select_one("#map-row-deposit .default").get_text(strip=True) == "deposit"


def test_it_creates_a_capi_destination_with_a_write_only_token(app, login, space, db):
    client = login("admin")
    response = post(client, space, "new?kind=capi", {
        "name": "Meta main", "pixel_id": " 1234567890 ", "access_token": TOKEN, "test_event_code": "TEST42",
        "graph_version": "", **CAPI_DEFAULTS, "off_contact": "1", "map_subscribed": "Subscribe"})
    assert response.status_code == 302
    assert response.headers["Location"].endswith(url(space, "?done=created"))
    (row,) = db.execute("SELECT id, kind FROM destinations").fetchall()
    saved = stored(db, row["id"])
    assert saved["config"] == {"pixel_id": "1234567890", "graph_version": "v23.0", "test_event_code": "TEST42"}
    assert saved["event_map"] == {"subscribed": "Subscribe", "registration": "CompleteRegistration",
                                  "deposit": "Purchase"}
    assert TOKEN.encode() not in bytes(saved["secret"]) and saved["secret_hint"] == "…" + TOKEN[-4:]
    listing = client.get(response.headers["Location"])
    assert TOKEN not in listing.get_data(as_text=True)
    assert html(listing).select_one("#notice").get_text(strip=True).startswith("Destination created.")
    edit = client.get(url(space, f"{row['id']}/edit")).get_data(as_text=True)
    assert TOKEN not in edit and "Leave empty to keep" in edit


def test_it_shows_a_new_webhooks_signing_secret_once(app, login, space, db, httpserver):
    client = login("admin")
    posted = post(client, space, "new?kind=webhook", {"url": httpserver.url_for("/hook"), **CANONICAL})
    assert posted.status_code == 303
    response = client.get(posted.location)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    secret = html(response).select_one("#signing-secret").get_text()
    assert secret.startswith("whsec_")
    assert html(response).select_one("#secret-once button.copy")["data-copy"] == "#signing-secret"
    (row,) = db.execute("SELECT id FROM destinations").fetchall()
    assert stored(db, row["id"])["config"] == {"url": httpserver.url_for("/hook")}
    for path in (url(space), url(space, f"{row['id']}/edit"), posted.location):
        text = client.get(path).get_data(as_text=True)
        assert secret not in text and secret[-4:] in text


def test_it_creates_a_postback_with_method_and_expected_status(login, space, db):
    client = login("admin")
    template = "https://pb.partner.example/p?click={uid}&goal={event_name}&sum={value}"
    response = post(client, space, "new?kind=postback", {
        "url_template": template, "method": "POST", "expect_status": "201",
        **map_form({"registration": "reg", "deposit": "conv"}, off=("contact", "subscribed"))})
    assert response.status_code == 302
    (row,) = db.execute("SELECT config, event_map, name FROM destinations").fetchall()
    assert row["config"] == {"url_template": template, "method": "POST", "expect_status": 201}
    assert row["event_map"] == {"registration": "reg", "deposit": "conv"}
    assert row["name"] == "postback pb.partner.example"


@pytest.mark.parametrize("kind, form, field, message", [
    ("capi", {"pixel_id": "pixel-1", "access_token": TOKEN}, "pixel_id", "digits only"),
    ("capi", {"pixel_id": "123", "access_token": ""}, "access_token", "access_token is required"),
    ("capi", {"pixel_id": "123", "access_token": TOKEN, "graph_version": "23"}, "graph_version", "v23.0"),
    ("capi", {"pixel_id": "123", "access_token": TOKEN, "test_event_code": "has space"}, "test_event_code", "1-64"),
    ("webhook", {"url": "ftp://files.example/x"}, "url", "http:// or https://"),
    ("webhook", {"url": ""}, "url", "url is required"),
    ("postback", {"url_template": "https://pb.example/?c={clickid}"}, "url_template", "unknown macro {clickid}"),
    ("postback", {"url_template": "https://pb.example/?c={uid}", "expect_status": "20x"}, "expect_status", "100 and 599"),
    ("postback", {"url_template": "https://pb.example/?c={uid}", "method": "PUT"}, "method", "GET or POST"),
])
def test_it_rerenders_bad_settings_with_the_error_beside_the_field(login, space, db, kind, form, field, message):
    client = login("admin")
    base = CAPI_DEFAULTS if kind == "capi" else CANONICAL
    response = post(client, space, f"new?kind={kind}", {"name": "My destination", **base, **form})
    assert response.status_code == 400
    page = html(response)
    assert message in page.select_one(f"#e-{field}").get_text()
    assert page.select_one("#f-name")["value"] == "My destination"
    for name, value in form.items():
        if name not in ("access_token", "method"):
            assert page.select_one(f"#f-{name}")["value"] == value
    assert TOKEN not in response.get_data(as_text=True)
    assert db.execute("SELECT count(*) AS n FROM destinations").fetchone()["n"] == 0


def test_it_rerenders_event_map_errors_per_event_with_the_settings_error_too(login, space, db):
    client = login("admin")
    response = post(client, space, "new?kind=webhook", {
        "url": "nope", **CANONICAL, "map_subscribed": "", "map_deposit": "x" * 101, "map_registration": "signup"})
    assert response.status_code == 400
    page = html(response)
    assert "or tick don't send" in page.select_one("#e-map_subscribed").get_text()
    assert "1-100 printable" in page.select_one("#e-map_deposit").get_text()
    assert page.select_one("#e-map_registration") is None
    assert page.select_one("#f-map_registration")["value"] == "signup"
    assert "not a valid URL" in page.select_one("#e-url").get_text() or "http://" in page.select_one("#e-url").get_text()
    assert db.execute("SELECT count(*) AS n FROM destinations").fetchone()["n"] == 0


def test_it_refuses_a_private_destination_with_the_reason(app, login, space, db):
    app.config["ALLOW_PRIVATE_DESTINATIONS"] = False
    client = login("admin")
    for kind, form, field in (("webhook", {"url": "http://127.0.0.1:9/hook"}, "url"),
                              ("postback", {"url_template": "http://localhost/pb?c={uid}"}, "url_template"),
                              ("webhook", {"url": "http://169.254.169.254/latest"}, "url")):
        response = post(client, space, f"new?kind={kind}", {**CANONICAL, **form})
        assert response.status_code == 400
        error = html(response).select_one(f"#e-{field}").get_text()
        assert "loopback, private, link-local or metadata address" in error
        assert html(response).select_one(f"#f-{field}")["value"] == form[field]
    assert db.execute("SELECT count(*) AS n FROM destinations").fetchone()["n"] == 0


def test_it_refuses_an_unknown_kind(login, space):
    response = post(login("admin"), space, "new?kind=sms", {})
    assert response.status_code == 400 and html(response).select_one("#form-error") is not None


# --- editing -------------------------------------------------------------------------------------

def test_it_edits_a_capi_destination_keeping_the_token_when_left_empty(app, login, space, db, httpserver):
    destination, _ = make_destination(app, space, "capi", **capi_fields(app, httpserver))
    before = stored(db, destination.id)
    client = login("admin")
    page = html(client.get(url(space, f"{destination.id}/edit")))
    assert page.select_one("#f-pixel_id")["value"] == "1234567890"
    assert page.select_one("#f-access_token")["value"] == ""

    response = post(client, space, f"{destination.id}/edit", {
        "name": "Meta renamed", "pixel_id": "999", "access_token": "", "test_event_code": "T1",
        "graph_version": "v22.0", **CAPI_DEFAULTS, "off_contact": "1"})
    assert response.status_code == 302 and response.headers["Location"].endswith("?done=saved")
    after = stored(db, destination.id)
    assert after["name"] == "Meta renamed"
    assert after["config"] == {"pixel_id": "999", "graph_version": "v22.0", "test_event_code": "T1"}
    assert "contact" not in after["event_map"] and after["event_map"]["deposit"] == "Purchase"
    assert bytes(after["secret"]) == bytes(before["secret"]) and after["secret_hint"] == before["secret_hint"]

    post(client, space, f"{destination.id}/edit", {"pixel_id": "999", "access_token": "EAAB-new-token-9876",
                                                      "reset_map": "1"})
    replaced = stored(db, destination.id)
    assert replaced["secret_hint"] == "…9876" and bytes(replaced["secret"]) != bytes(before["secret"])
    assert replaced["event_map"] == configure.KINDS["capi"].DEFAULT_EVENT_MAP
    assert replaced["name"] == "Meta pixel 999"


def test_it_rerenders_a_bad_edit_and_changes_nothing(app, login, space, db):
    destination, _ = make_destination(app, space, "webhook", url="https://hooks.partner.example/xt")
    response = post(login("admin"), space, f"{destination.id}/edit",
                    {"name": "x" * 201, "url": "https://hooks.partner.example/new", **CANONICAL})
    assert response.status_code == 400
    page = html(response)
    assert "1-200" in page.select_one("#e-name").get_text()
    assert page.select_one("#f-url")["value"] == "https://hooks.partner.example/new"
    assert stored(db, destination.id)["config"]["url"] == "https://hooks.partner.example/xt"


def test_it_rotates_a_webhook_signing_secret_showing_the_new_one_once(app, login, space, db):
    destination, old = make_destination(app, space, "webhook", url="https://hooks.partner.example/xt")
    client = login("admin")
    posted = post(client, space, f"{destination.id}/rotate-secret")
    assert posted.status_code == 303
    response = client.get(posted.location)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    new = html(response).select_one("#signing-secret").get_text()
    assert new.startswith("whsec_") and new != old
    assert stored(db, destination.id)["secret_hint"] == "…" + new[-4:]
    assert new not in client.get(url(space, f"{destination.id}/edit")).get_data(as_text=True)


# --- pause and resume ----------------------------------------------------------------------------

def test_it_pauses_and_resumes_holding_the_deliveries_meanwhile(app, client, login, space, db):
    destination, _ = make_destination(app, space, "webhook", url="https://hooks.partner.example/xt")
    send_event(client, space, event="contact", uid="u1")
    admin = login("admin")
    response = post(admin, space, f"{destination.id}/pause")
    assert response.status_code == 302 and response.headers["Location"].endswith("?done=paused")
    saved = stored(db, destination.id)
    assert saved["paused_at"] is not None and saved["paused_reason"] == f"paused by {admin.user['email']}"
    (row,) = deliveries(db, space)
    assert row["held"] and row["status"] == "pending"
    page = html(admin.get(response.headers["Location"]))
    assert "paused" in page.select_one(f"#destination-{destination.id} .state").get_text()
    assert "nothing is dropped" in page.select_one("#notice").get_text()
    assert page.select_one(f"#destination-{destination.id} form.resume") is not None

    response = post(admin, space, f"{destination.id}/resume")
    assert response.status_code == 302 and response.headers["Location"].endswith("?done=resumed")
    assert stored(db, destination.id)["paused_at"] is None
    (row,) = deliveries(db, space)
    assert not row["held"] and row["next_attempt_at"] is not None


# --- test sends ----------------------------------------------------------------------------------

def test_it_sends_a_real_signed_test_webhook_and_shows_request_and_response(app, login, space, db, httpserver):
    destination, secret = make_destination(app, space, "webhook", url=httpserver.url_for("/hook"),
                                           event_map={"deposit": "conversion"})
    httpserver.expect_oneshot_request("/hook", method="POST").respond_with_data(
        "thanks, got it", status=202, headers={"X-Sink": "yes"})
    client = login("admin")
    response = post(client, space, f"{destination.id}/test", {"event": "deposit"})
    assert response.status_code == 200

    (request, _), = httpserver.log
    body = Webhook(secret).verify(request.get_data(as_text=True), dict(request.headers))
    data = body["data"]
    assert re.fullmatch(r"xt-test-[0-9a-f]{16}", data["eid"]) and data["uid"] == data["eid"] == data["id"]
    assert data["event"] == "deposit" and data["event_name"] == "conversion" and data["value"] == "1"
    assert data["source"] == "test" and data["flags"] == ["test"]
    page = html(response)
    assert page.select_one("#test-verdict .badge").get_text() == "accepted"
    shown_request = page.select_one("#test-request").get_text()
    assert shown_request.startswith(f"POST {httpserver.url_for('/hook')}")
    assert f"webhook-signature: {request.headers['webhook-signature']}" in shown_request
    assert f"webhook-id: {data['id']}" in shown_request
    assert request.get_data(as_text=True) in shown_request
    shown_response = page.select_one("#test-response").get_text()
    assert shown_response.startswith("HTTP 202") and "x-sink: yes" in shown_response
    assert "thanks, got it" in shown_response
    assert page.select_one("#test-id").get_text() == data["id"]
    assert secret not in response.get_data(as_text=True)
    assert deliveries(db) == []
    assert db.execute("SELECT count(*) AS n FROM delivery_attempts").fetchone()["n"] == 0
    assert stored(db, destination.id)["paused_at"] is None


def test_it_sends_a_capi_test_with_the_test_event_code_and_never_shows_the_token(app, login, space, db, httpserver):
    destination, _ = make_destination(app, space, "capi", **capi_fields(app, httpserver, test_event_code="TEST777"))
    httpserver.expect_oneshot_request("/graph/v23.0/1234567890/events", method="POST").respond_with_json(
        {"events_received": 1, "messages": [], "fbtrace_id": "trace-1", "echo": TOKEN})
    response = post(login("admin"), space, f"{destination.id}/test", {"event": "registration"},
                    headers={"HX-Request": "true"})
    assert response.status_code == 200

    (request, _), = httpserver.log
    sent = request.get_json()
    assert sent["access_token"] == TOKEN and sent["test_event_code"] == "TEST777"
    (event,) = sent["data"]
    assert event["event_name"] == "CompleteRegistration" and event["event_id"].startswith("xt-test-")
    text = response.get_data(as_text=True)
    assert TOKEN not in text
    page = html(response)
    # An HTMX request gets the fragment alone, rooted at its target id.
    assert page.select_one("#test-result") is not None and page.select_one("#setup-destinations") is None
    shown = page.select_one("#test-request").get_text()
    assert '"access_token":"[redacted]"' in shown and '"test_event_code":"TEST777"' in shown
    assert "trace-1" in page.select_one("#test-response").get_text()
    assert page.select_one("#test-verdict .badge").get_text() == "accepted"
    assert deliveries(db) == []


def test_it_sends_a_test_postback_and_shows_a_refusal_as_the_destination_gave_it(app, login, space, httpserver):
    destination, _ = make_destination(
        app, space, "postback", url_template=httpserver.url_for("/pb") + "?click={uid}&goal={event_name}&v={value}")
    httpserver.expect_oneshot_request("/pb", method="GET").respond_with_data("unknown click", status=404)
    response = post(login("admin"), space, f"{destination.id}/test", {"event": "subscribed"})
    assert response.status_code == 200
    (request, _), = httpserver.log
    assert request.args["click"].startswith("xt-test-") and request.args["goal"] == "subscribed"
    assert request.args["v"] == ""
    page = html(response)
    assert page.select_one("#test-verdict .badge").get_text() == "not accepted"
    assert "HTTP 404" in page.select_one("#test-verdict").get_text()
    assert "retried on the schedule" in page.select_one("#test-verdict").get_text()
    assert "unknown click" in page.select_one("#test-response").get_text()


def test_it_shows_the_network_error_of_a_test_send_to_a_closed_port(app, login, space, db):
    destination, _ = make_destination(app, space, "webhook", url=f"http://127.0.0.1:{free_port()}/hook")
    response = post(login("admin"), space, f"{destination.id}/test", {"event": "contact"})
    assert response.status_code == 200
    page = html(response)
    assert page.select_one("#test-response") is None
    assert "ConnectError" in page.select_one("#test-network-error").get_text()
    assert page.select_one("#test-request").get_text().startswith("POST http://127.0.0.1:")
    assert deliveries(db) == []


def test_it_refuses_a_test_send_to_a_private_address_with_the_guards_reason(app, login, space, httpserver):
    destination, _ = make_destination(app, space, "webhook", url=httpserver.url_for("/hook"))
    app.config["ALLOW_PRIVATE_DESTINATIONS"] = False
    services.of(app).drop_delivery_http()
    response = post(login("admin"), space, f"{destination.id}/test", {"event": "contact"})
    assert response.status_code == 200
    assert "refused" in html(response).select_one("#test-network-error").get_text()
    assert "go to dead" in html(response).select_one("#test-verdict").get_text()
    assert httpserver.log == []


def test_it_refuses_a_test_of_an_event_that_is_off_or_unknown(app, login, space, httpserver):
    destination, _ = make_destination(app, space, "webhook", url=httpserver.url_for("/hook"),
                                      event_map={"deposit": "deposit"})
    client = login("admin")
    page = html(client.get(url(space, f"{destination.id}/edit")))
    assert [o["value"] for o in page.select("#test-form option")] == ["deposit"]
    for event in ("contact", "purchase"):
        response = post(client, space, f"{destination.id}/test", {"event": event})
        assert response.status_code == 400
        assert html(response).select_one("#test-error") is not None
        assert html(response).select_one("#f-url")["value"] == httpserver.url_for("/hook")
    assert httpserver.log == []


# --- docs agree with the screen --------------------------------------------------------------------

def test_every_postback_macro_is_described_on_the_screen_and_in_the_docs():
    assert list(postback.MACRO_DESCRIPTIONS) == list(postback.MACROS)
    table = (DOCS / "postback-macros.md").read_text()
    for name in postback.MACROS:
        assert "`{" + name + "}`" in table


def test_the_docs_describe_the_screen():
    text = (DOCS / "destinations.md").read_text()
    assert "/spaces/SPACE/destinations/" in text and "xt-test-" in text
    assert "/spaces/SPACE/destinations/" in (DOCS / "event-maps.md").read_text()


def test_a_member_signs_in_and_reaches_the_screen_from_the_space_tabs(app, space):
    user = make_user(app, "tabs@example.com", [(space, "viewer")])
    client = app.test_client()
    sign_in(client, user["email"])
    page = html(client.get(url(space)))
    assert page.select_one("#tab-destinations")["aria-current"] == "page"
    assert json.loads(page.body["hx-headers"])["X-CSRF-Token"]


# --- in a real browser ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def private_live_server(servers):
    """gunicorn (Procfile web line) allowed to call the local sink."""
    server = LiveServer(servers, env={"ALLOW_PRIVATE_DESTINATIONS": "1"}).start()
    yield server
    server.stop()


def test_an_admin_adds_a_webhook_copies_its_secret_and_sees_a_test_send_swap_in(
        browser, app, space, private_live_server, httpserver):
    from playwright.sync_api import expect

    user = make_user(app, "admin-browser@example.com", [(space, "admin")])
    httpserver.expect_request("/hook", method="POST").respond_with_data("sink says hi", status=200)
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    tab = context.new_page()
    try:
        browser_sign_in(tab, private_live_server.url, user["email"], space=space)
        tab.click("#tab-destinations")
        tab.click("#add-webhook")
        tab.fill("#f-url", httpserver.url_for("/hook"))
        tab.fill("#f-map_deposit", "conversion")
        tab.check("#f-off_contact")
        tab.click("#save")
        secret = tab.locator("#signing-secret").inner_text()
        assert secret.startswith("whsec_")
        tab.click("#secret-once button.copy")
        expect(tab.locator("#secret-once button.copy")).to_have_text("Copied")
        tab.click("#continue-test")
        edit_url = tab.url
        expect(tab.locator("#test-form option")).to_have_count(3)
        tab.select_option("#f-event", "deposit")
        tab.click("#send-test-button")
        expect(tab.locator("#test-verdict")).to_contain_text("accepted", timeout=10000)
        expect(tab.locator("#test-response")).to_contain_text("sink says hi")
        assert tab.url == edit_url
        screenshot(tab, "destination-edit")
        (request, _), = httpserver.log
        assert Webhook(secret).verify(request.get_data(as_text=True), dict(request.headers))["data"]["event_name"] \
            == "conversion"
        tab.click("text=← Destinations")
        expect(tab.locator("#destinations tbody tr")).to_have_count(1)
        screenshot(tab, "destinations")
        tab.click("#add-postback")
        expect(tab.locator("#macros tr")).to_have_count(len(postback.MACROS))
        tab.fill("#f-url_template", "https://pb.partner.example/p?c={clickid}")
        tab.click("#save")
        expect(tab.locator("#e-url_template")).to_contain_text("unknown macro {clickid}")
        expect(tab.locator("#f-url_template")).to_have_value("https://pb.partner.example/p?c={clickid}")
        screenshot(tab, "destination-new-postback")
    finally:
        context.close()
