"""The received log: capture of every ingress endpoint, redaction, warnings, the page, journeys, listen mode."""
import json
import queue
from urllib.parse import urlencode

import pytest

from app import services
from app.received import capture
from app.partitions.retention import maintain_partitions
from app.received.retention import purge_received_log
from tests.conftest import bearer
from tests.setup.conftest import html


def flush(app) -> None:
    """Wait for the background writer to store what was captured."""
    capture.received_log(app).flush()


def logged(app, db, space: dict) -> list[dict]:
    """The space's stored rows, oldest first."""
    flush(app)
    return db.execute(
        "SELECT id, endpoint, params, body_excerpt, status, http_status, inbox_id, uid, warnings"
        " FROM received_requests WHERE space_id = %(s)s ORDER BY id", {"s": space["id"]}).fetchall()


def post(client, path: str, space: dict, body) -> object:
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.post(path, data=data, headers={**bearer(space), "Content-Type": "application/json"})


def get(client, path: str, space: dict, **params):
    return client.get(path + "?" + urlencode({"token": space["ingest"], **params}))


def page_url(space: dict, **query) -> str:
    return f"/spaces/{space['slug']}/received/" + (f"?{urlencode(query)}" if query else "")


def make_click(client, space: dict, **fields) -> str:
    response = post(client, "/clicks", space, fields)
    assert response.status_code == 200
    return response.json["uid"]


# Capture ---------------------------------------------------------------------------------------

def test_it_logs_every_endpoint_with_status_http_code_inbox_id_and_uid(app, client, space, db):
    uid = make_click(client, space, fbclid="fb-1")
    first = post(client, "/events", space, {"event": "registration", "uid": uid, "eid": "r-1"})
    post(client, "/events", space, {"event": "registration", "uid": uid, "eid": "r-1"})
    e = get(client, "/e", space, event="deposit", uid=uid, value="10", eid="d-1")
    post(client, "/bind", space, {"uid": uid, "tg_id": 42})
    post(client, "/bind", space, {"uid": uid, "tg_id": 43})
    get(client, "/bind", space, uid="other-uid", tg="77")
    rows = logged(app, db, space)
    assert [(r["endpoint"], r["status"], r["http_status"]) for r in rows] == [
        ("POST /clicks", "created", 200), ("POST /events", "queued", 200), ("POST /events", "duplicate", 200),
        ("GET /e", "queued", 200), ("POST /bind", "bound", 200), ("POST /bind", "conflict", 409),
        ("GET /bind", "bound", 200)]
    assert rows[0]["uid"] == uid and rows[0]["params"] == {"fbclid": "fb-1"}
    assert rows[1]["inbox_id"] == rows[2]["inbox_id"] == int(first.json["inbox_id"])
    assert rows[3]["inbox_id"] == int(e.json["inbox_id"]) and rows[3]["uid"] == uid
    assert rows[3]["params"] == {"token": "(redacted)", "event": "deposit", "uid": uid, "value": "10", "eid": "d-1"}
    assert rows[5]["params"] == {"uid": uid, "tg_id": 43}
    assert rows[6]["uid"] == "other-uid"


def test_it_logs_rejections_with_their_status_and_an_excerpt_of_an_unparseable_body(app, client, space, db):
    assert post(client, "/events", space, "{not json xtb_" + "A" * 40).status_code == 400
    assert post(client, "/events", space, {"event": "deposit", "value": "-5"}).status_code == 400
    assert post(client, "/events", space, {"event": "deposit", "colour": "red"}).status_code == 400
    assert get(client, "/e", space, event="deposit", t="1764086400").status_code == 400
    assert post(client, "/clicks", space, {"country": "Narnia"}).status_code == 400
    assert get(client, "/bind", space, uid="u-1").status_code == 400
    assert post(client, "/events", space, {"event": "contact", "eid": "x" * 70_000}).status_code == 413
    rows = logged(app, db, space)
    assert [(r["endpoint"], r["status"], r["http_status"]) for r in rows] == [
        ("POST /events", "invalid_json", 400), ("POST /events", "invalid_value", 400),
        ("POST /events", "invalid_request", 400), ("GET /e", "invalid_time", 400),
        ("POST /clicks", "invalid_request", 400), ("GET /bind", "invalid_tg_id", 400),
        ("POST /events", "payload_too_large", 413)]
    assert rows[-1]["body_excerpt"].startswith("(body larger than the size limit")
    assert rows[0]["params"] == {} and rows[0]["body_excerpt"].startswith("{not json xtb_(redacted)")
    assert "A" * 10 not in rows[0]["body_excerpt"]
    assert rows[2]["params"] == {"event": "deposit", "colour": "red"}


def test_it_never_logs_a_request_whose_credential_was_refused(app, client, space, other_space, db):
    client.post("/events", data=json.dumps({"event": "contact"}), headers={"Content-Type": "application/json"})
    client.get("/e?" + urlencode({"token": "xti_wrong", "event": "contact"}))
    client.get("/e?" + urlencode({"token": space["bearer"], "event": "contact"}))
    flush(app)
    assert db.execute("SELECT count(*) AS n FROM received_requests").fetchone()["n"] == 0


def test_it_keeps_each_spaces_requests_apart(app, client, space, other_space, db):
    post(client, "/events", space, {"event": "contact", "uid": "mine"})
    post(client, "/events", other_space, {"event": "contact", "uid": "theirs"})
    assert [r["uid"] for r in logged(app, db, space)] == ["mine"]
    assert [r["uid"] for r in logged(app, db, other_space)] == ["theirs"]


def test_it_drops_log_rows_never_events_when_the_buffer_is_full(app, client, space, db, monkeypatch):
    log = capture.received_log(app)
    monkeypatch.setattr(log, "_queue", queue.Queue(1))
    monkeypatch.setattr(log, "_ensure_started", lambda: None)  # nothing drains the buffer
    for n in range(3):
        assert post(client, "/events", space, {"event": "contact", "uid": f"u{n}"}).json["status"] == "queued"
    assert log.dropped == 2
    assert db.execute("SELECT count(*) AS n FROM events").fetchone()["n"] == 3


def test_a_failing_log_never_fails_the_request(app, client, space, db, monkeypatch):
    def broken(self, item):
        raise RuntimeError("log is broken")
    monkeypatch.setattr(capture.ReceivedLog, "record", broken)
    response = post(client, "/events", space, {"event": "contact", "uid": "u1"})
    assert response.status_code == 200 and response.json["status"] == "queued"
    assert get(client, "/e", space, event="lead").status_code == 400


# Redaction -------------------------------------------------------------------------------------

def test_it_never_stores_or_shows_a_secret(app, client, login, space, db):
    get(client, "/e", space, event="contact", uid="u-1", sub1=space["bearer"])
    post(client, "/events", space, {"event": "contact", "uid": "u-2", "eid": space["ingest"]})
    post(client, "/bind", space, {"uid": "u-3", "tg_id": 5})
    flush(app)
    stored = json.dumps(db.execute("SELECT * FROM received_requests").fetchall(), default=str)
    for secret in (space["ingest"], space["bearer"], space["ingest"][4:], space["bearer"][4:]):
        assert secret not in stored
    assert "(redacted)" in stored
    page = login("viewer").get(page_url(space)).get_data(as_text=True)
    assert "u-1" in page and "u-2" in page
    for secret in (space["ingest"], space["bearer"], space["ingest"][4:], space["bearer"][4:]):
        assert secret not in page


# Warnings --------------------------------------------------------------------------------------

def warnings_of(app, db, space) -> list[list[str]]:
    return [r["warnings"] for r in logged(app, db, space)]


def test_it_explains_a_refused_unexpanded_macro(app, client, login, space, db):
    response = get(client, "/e", space, event="deposit", uid="u-1", value="{sumdep}")
    assert response.status_code == 400 and response.json["status"] == "invalid_value"
    [row] = logged(app, db, space)
    assert row["status"] == "invalid_value" and "unexpanded_macro" in row["warnings"]
    shown = html(login("viewer").get(page_url(space))).select_one(f"#rq-{row['id']}")
    assert shown.select_one(".status .badge").get_text() == "invalid_value"
    assert shown.select_one(".status .http").get_text() == "400"
    warning = shown.select_one('.warning[data-code="unexpanded_macro"]')
    assert "value={sumdep}" in warning.get_text() and "not recorded" in warning.get_text()


@pytest.mark.parametrize("params", [{"eid": "[TXID]"}, {"sub1": "%CLICK_ID%"}])
def test_it_flags_macros_in_any_parameter(app, client, space, db, params):
    get(client, "/e", space, event="registration", uid="u-1", **params)
    assert "unexpanded_macro" in warnings_of(app, db, space)[0]


def test_it_flags_a_uid_no_click_of_the_space_has(app, client, space, other_space, db):
    known = make_click(client, space)
    theirs = make_click(client, other_space)
    post(client, "/events", space, {"event": "contact", "uid": known})
    post(client, "/events", space, {"event": "contact", "uid": theirs})
    get(client, "/bind", space, uid="never-clicked", tg="9")
    assert warnings_of(app, db, space)[1:] == [[], ["unknown_uid"], ["unknown_uid"]]


def test_it_flags_a_deposit_without_value_or_eid(app, client, space, db):
    uid = make_click(client, space)
    post(client, "/events", space, {"event": "deposit", "uid": uid})
    post(client, "/events", space, {"event": "deposit", "uid": uid, "value": "5", "eid": "d-1"})
    get(client, "/e", space, event="deposit", uid=uid, value="", eid="d-2")
    assert warnings_of(app, db, space)[1:] == [["deposit_without_value", "deposit_without_eid"], [],
                                              ["deposit_without_value"]]


def test_it_flags_an_event_time_far_from_receipt(app, client, login, space, db, clock):
    uid = make_click(client, space)
    now_ms = int(clock.now.timestamp() * 1000)
    get(client, "/e", space, event="registration", uid=uid, t=str(now_ms - 2 * 3_600_000 - 5 * 60_000))
    post(client, "/events", space, {"event": "contact", "uid": uid, "occurred_at_ms": now_ms - 30 * 60_000})
    assert warnings_of(app, db, space)[1:] == [["time_far_from_receipt"], []]
    get(client, "/e", space, event="registration", uid=uid, t=str(now_ms // 1000))
    rows = logged(app, db, space)
    assert rows[3]["status"] == "invalid_time" and rows[3]["warnings"] == ["time_far_from_receipt"]
    page = html(login("viewer").get(page_url(space)))
    far = page.select_one(f'#rq-{rows[1]["id"]} .warning[data-code="time_far_from_receipt"]').get_text()
    assert "t is 2 h 5 min before the time it was received" in far
    seconds = page.select_one(f'#rq-{rows[3]["id"]} .warning[data-code="time_far_from_receipt"]').get_text()
    assert "looks like epoch seconds" in seconds


def test_it_flags_an_invalid_event(app, client, login, space, db):
    get(client, "/e", space, event="purchase", uid="u-1")
    post(client, "/events", space, {"uid": "u-1"})
    rows = logged(app, db, space)
    assert [r["status"] for r in rows] == ["invalid_event", "invalid_event"]
    assert all("invalid_event" in r["warnings"] for r in rows)
    page = html(login("viewer").get(page_url(space)))
    assert "'purchase' is not one of" in page.select_one(f'#rq-{rows[0]["id"]} .warning[data-code="invalid_event"]').get_text()


# The page --------------------------------------------------------------------------------------

def test_it_lists_newest_first_in_the_spaces_time_zone(app, client, login, space, db, clock):
    db.execute("UPDATE spaces SET time_zone = 'Asia/Tokyo' WHERE id = %(s)s", {"s": space["id"]})
    clock.now = clock.now.replace(hour=1, minute=2, second=3)
    post(client, "/events", space, {"event": "contact", "uid": "older"})
    clock.advance(seconds=10)
    post(client, "/events", space, {"event": "contact", "uid": "newer"})
    flush(app)
    page = html(login("viewer").get(page_url(space)))
    assert page.select_one("#tab-received")["aria-current"] == "page"
    rows = page.select("#received-rows tr.received-row")
    assert [r.select_one(".uid").get_text() for r in rows] == ["newer", "older"]
    assert rows[1].select_one("time").get_text().endswith("10:02:03")
    assert rows[0].select_one(".uid a")["href"] == f"/spaces/{space['slug']}/received/journeys/newer"
    assert rows[0].select_one(".params").get_text(" ", strip=True) == "event=contact uid=newer"


def test_it_filters_by_endpoint_status_and_warnings_kept_in_the_url(app, client, login, space, db):
    uid = make_click(client, space)
    post(client, "/events", space, {"event": "contact", "uid": uid})
    get(client, "/e", space, event="deposit", uid=uid, value="5", eid="d-1")
    get(client, "/e", space, event="deposit", uid=uid, value="5", eid="d-1")
    get(client, "/e", space, event="deposit", uid=uid)
    flush(app)
    viewer = login("viewer")

    def shown(**query):
        page = html(viewer.get(page_url(space, **query)))
        return page, [(r["data-endpoint"], r["data-status"]) for r in page.select("#received-rows tr.received-row")]

    page, rows = shown(endpoint="GET /e")
    assert rows == [("GET /e", "queued"), ("GET /e", "duplicate"), ("GET /e", "queued")]
    assert page.select_one("#f-endpoint option[selected]")["value"] == "GET /e"
    page, rows = shown(endpoint="GET /e", status="duplicate")
    assert rows == [("GET /e", "duplicate")]
    page, rows = shown(warned="1")
    assert rows == [("GET /e", "queued")]
    assert page.select_one("#f-warned").has_attr("checked")
    listen = page.select_one("#listen-toggle")["href"]
    assert "warned=1" in listen and "listen=1" in listen


def test_it_rerenders_an_unknown_filter_value_with_the_fields_error(login, space):
    response = login("viewer").get(page_url(space, endpoint="DELETE /events", status="duplicate", warned="1"))
    assert response.status_code == 400
    page = html(response)
    assert page.select_one("#e-endpoint").get_text().startswith("choose one of")
    assert page.select_one("#f-status option[selected]")["value"] == "duplicate"
    assert page.select_one("#f-warned").has_attr("checked")


def test_it_pages_back_through_older_requests(app, client, login, space, db, monkeypatch):
    monkeypatch.setattr("app.received.rows.PAGE_SIZE", 2)
    for n in range(5):
        post(client, "/events", space, {"event": "contact", "uid": f"u{n}"})
    flush(app)
    viewer = login("viewer")
    seen, url = [], page_url(space)
    while url:
        page = html(viewer.get(url))
        seen += [r.select_one(".uid").get_text() for r in page.select("#received-rows tr.received-row")]
        older = page.select_one("#older")
        url = page_url(space) + older["href"] if older else None
    assert seen == ["u4", "u3", "u2", "u1", "u0"]


def test_it_says_when_nothing_was_received(login, space):
    page = html(login("viewer").get(page_url(space)))
    assert page.select_one("#received-rows tr.empty")


def test_it_sends_anonymous_visitors_to_login(client, space):
    response = client.get(page_url(space))
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_it_checks_ownership(app, client, login, space, other_space, db):
    post(client, "/events", other_space, {"event": "contact", "uid": "bob-secret-uid"})
    flush(app)
    alice = login("viewer")
    assert "bob-secret-uid" not in alice.get(page_url(space)).get_data(as_text=True)
    assert alice.get(page_url(other_space)).status_code == 404
    assert alice.get(f"/spaces/{other_space['slug']}/received/stream").status_code == 404
    assert alice.get(f"/spaces/{other_space['slug']}/received/journeys/bob-secret-uid").status_code == 404
    assert alice.get(f"/spaces/{space['slug']}/received/journeys/bob-secret-uid").status_code == 404


# Retention -------------------------------------------------------------------------------------

def test_it_purges_rows_older_than_the_window_beyond_the_newest_rows(app, client, space, other_space, db, clock,
                                                                   partition_days):
    app.config["RECEIVED_LOG_MIN_ROWS"] = 3
    for n in range(5):
        post(client, "/events", space, {"event": "contact", "uid": f"old{n}"})
    post(client, "/events", other_space, {"event": "contact", "uid": "bob-old"})
    flush(app)
    # Whole days go: today's partition once all of it is more than 7 days old.
    clock.advance(days=9)
    post(client, "/events", space, {"event": "contact", "uid": "new"})
    flush(app)
    with app.app_context():
        assert maintain_partitions() >= 1
        assert purge_received_log() == 0
    assert [r["uid"] for r in logged(app, db, space)] == ["old3", "old4", "new"]
    assert [r["uid"] for r in logged(app, db, other_space)] == ["bob-old"]
    # The kept rows wait in the default partition, where the purge trims them beyond the newest 3.
    for n in range(2):
        post(client, "/events", space, {"event": "contact", "uid": f"newer{n}"})
    flush(app)
    with app.app_context():
        assert purge_received_log() == 2
    assert [r["uid"] for r in logged(app, db, space)] == ["new", "newer0", "newer1"]
    clock.advance(days=7, hours=1)
    with app.app_context():
        maintain_partitions()
        assert purge_received_log() == 0
    assert [r["uid"] for r in logged(app, db, other_space)] == ["bob-old"]


def test_it_keeps_a_week_however_many_rows(app, client, space, db, clock, partition_days):
    app.config["RECEIVED_LOG_MIN_ROWS"] = 1
    for n in range(3):
        post(client, "/events", space, {"event": "contact", "uid": f"u{n}"})
    flush(app)
    clock.advance(days=6, hours=23)
    with app.app_context():
        assert maintain_partitions() == 0
        assert purge_received_log() == 0
    assert len(logged(app, db, space)) == 3


def test_the_scheduler_runs_the_purge():
    from jobs.scheduler import PERIODIC
    assert "purge_received_log" in [name for name, _, _ in PERIODIC]


# Journeys --------------------------------------------------------------------------------------

def test_it_shows_a_journeys_click_binding_events_and_deliveries(app, client, login, space, db):
    db.execute("INSERT INTO destinations (space_id, kind, name, config, event_map, created_at)"
               " VALUES (%(s)s, 'webhook', 'Hook', '{\"url\": \"http://127.0.0.1:9/\"}', '{\"deposit\": \"Purchase\"}', now())",
               {"s": space["id"]})
    uid = make_click(client, space, fbclid="IwAR-xyz", country="DE")
    post(client, "/bind", space, {"uid": uid, "tg_id": 777})
    post(client, "/events", space, {"event": "registration", "uid": uid})
    deposit = post(client, "/events", space, {"event": "deposit", "uid": uid, "value": "25.5", "eid": "d-1"})
    post(client, "/events", space, {"event": "contact", "uid": "someone-else"})
    page = html(login("viewer").get(f"/spaces/{space['slug']}/received/journeys/{uid}"))
    assert page.select_one("#journey-uid").get_text() == uid
    click = page.select_one("#journey-click")
    assert click.select_one(".fbclid").get_text() == "IwAR-xyz" and click.select_one(".cc").get_text() == "DE"
    assert "777" in page.select_one("#journey-binding").get_text()
    events = page.select("#journey-events tbody tr")
    assert [r["class"][0] for r in events] == ["registration", "deposit"]
    row = page.select_one(f"#je-{deposit.json['inbox_id']}")
    assert row.select_one(".val").get_text() == "25.50 USD"
    assert row.select_one(".deliveries .badge").get_text() == "Hook: pending"


def test_it_answers_404_for_an_unknown_uid(login, space):
    viewer = login("viewer")
    assert viewer.get(f"/spaces/{space['slug']}/received/journeys/nobody").status_code == 404
    assert viewer.get(f"/spaces/{space['slug']}/received/journeys/bad%20uid!").status_code == 404


def test_it_links_a_logged_request_to_its_journey(app, client, login, space, db):
    post(client, "/events", space, {"event": "contact", "uid": "u-link"})
    flush(app)
    viewer = login("viewer")
    href = html(viewer.get(page_url(space))).select_one("#received-rows .uid a")["href"]
    assert viewer.get(href).status_code == 200


# Listen mode -----------------------------------------------------------------------------------

def read_until(chunks, needle: str, limit: int = 10) -> str:
    seen = ""
    for _ in range(limit):
        chunk = next(chunks)
        seen += chunk.decode() if isinstance(chunk, bytes) else chunk
        if needle in seen:
            return seen
    raise AssertionError(f"{needle!r} not streamed; got {seen[-500:]!r}")


def test_listen_mode_streams_new_requests_of_the_space_only(app, client, login, space, other_space, db):
    post(client, "/events", space, {"event": "contact", "uid": "before"})
    flush(app)
    viewer = login("viewer")
    response = viewer.get(f"/spaces/{space['slug']}/received/stream", buffered=False)
    assert response.headers["Content-Type"].startswith("text/event-stream")
    chunks = iter(response.response)
    opening = read_until(chunks, "before")
    assert 'hx-swap-oob="true" data-live="1"' in opening and "event: received" in opening
    post(client, "/events", other_space, {"event": "contact", "uid": "bob-live"})
    get(client, "/e", space, event="deposit", uid="alice-live", value="{sumdep}")
    frame = read_until(chunks, "alice-live")
    assert 'hx-swap-oob="afterbegin"' in frame and 'data-code="unexpanded_macro"' in frame
    assert "bob-live" not in frame
    response.close()


def test_listen_mode_keeps_to_the_pages_filters(app, client, login, space, db):
    viewer = login("viewer")
    response = viewer.get(f"/spaces/{space['slug']}/received/stream?warned=1", buffered=False)
    chunks = iter(response.response)
    read_until(chunks, "received-rows")
    post(client, "/events", space, {"event": "contact", "uid": make_click(client, space)})
    get(client, "/e", space, event="deposit", uid="warned-one")
    frame = read_until(chunks, "warned-one")
    assert "contact" not in frame
    response.close()


def test_the_page_connects_listen_mode_when_toggled(login, space):
    viewer = login("viewer")
    off = html(viewer.get(page_url(space)))
    assert not off.select_one("[sse-connect]")
    assert off.select_one("#listen-toggle")["aria-checked"] == "false"
    on = html(viewer.get(page_url(space, listen="1", status="queued")))
    assert on.select_one("#received-log")["sse-connect"] == f"/spaces/{space['slug']}/received/stream?status=queued"
    assert on.select_one("#listen-toggle")["aria-checked"] == "true"


def test_viewers_of_another_role_read_it_too(app, login, space):
    for role in ("operator", "admin"):
        assert login(role).get(page_url(space)).status_code == 200


def test_rows_are_published_only_for_spaces_someone_listens_to(app, client, space, other_space, redis):
    from app.received.live import mark_listening
    pubsub = redis.pubsub()
    pubsub.psubscribe("xt:space:*:received")
    assert pubsub.get_message(timeout=1)["type"] == "psubscribe"
    with app.app_context():
        mark_listening(app, space["id"])
    post(client, "/events", space, {"event": "contact", "uid": "heard"})
    post(client, "/events", other_space, {"event": "contact", "uid": "unheard"})
    flush(app)
    services.of(app).publisher.flush()
    messages = []
    while (message := pubsub.get_message(timeout=0.5)) is not None:
        messages.append(message)
    assert [m["channel"] for m in messages] == [f"xt:space:{space['id']}:received".encode()]
    assert json.loads(messages[0]["data"])["uid"] == "heard"
    pubsub.close()


def test_the_hub_keeps_received_rows_off_the_deck_feed(app, space):
    from app.received.live import View
    from app.received.rows import Filters
    hub = services.of(app).live_hub
    feed = hub.subscribe(space["id"], None)
    received = hub.subscribe(space["id"], None, kind="received", view=View(space, Filters()))
    row = {"type": "received", "space_id": space["id"], "id": 7, "received_at": "2026-11-25T10:00:00+00:00",
           "endpoint": "GET /e", "params": {"event": "contact"}, "body_excerpt": None, "status": "queued",
           "http_status": 200, "inbox_id": 1, "uid": "u-7", "warnings": []}
    try:
        hub.dispatch([(f"xt:space:{space['id']}:received".encode(), json.dumps(row).encode())])
        assert feed.get(timeout=0.1) is None
        assert 'id="rq-7"' in received.get(timeout=0.1)
    finally:
        hub.stop()
