"""The deck as buyers trust it (issue 15): test events, breakdowns that add up, one clock, every
currency, forms that act once, deleted destinations, journey search and forgiving filters."""
import json
from datetime import timedelta
from decimal import Decimal

import pytest

from app import close_app, create_app
from app.delivery import configure
from app.lib import clock as clock_lib
from app.lib.localtime import format_local
from tests.conftest import bearer, settings
from tests.dashboard.conftest import csrf_of, html, send_click, send_event
from tests.dashboard.test_deck import journey, make_link
from tests.delivery.conftest import make_destination


@pytest.fixture
def app(servers, clock):
    """The app allowed to create destinations on local addresses."""
    application = create_app(settings(servers, CLOCK=clock, ALLOW_PRIVATE_DESTINATIONS=True))
    application.config["TESTING"] = True
    yield application
    close_app(application)


def partial(client, space, name, query="range=today"):
    response = client.get(f"/spaces/{space['slug']}/partials/{name}?{query}")
    assert response.status_code == 200, response.get_data(as_text=True)
    return html(response)


def counts(page, selector):
    return [int(e["data-count"]) for e in page.select(selector)]


@pytest.fixture
def mixed(client, db, space, clock):
    """Two links, USD and EUR deposits, a click on a made-up link, a journey without a click, a deposit
    without its registration, and test events that must count nowhere."""
    make_link(db, space, "spring", "Spring creative")
    make_link(db, space, "summer", "Summer creative")
    now = clock.now
    full = ["contact", "subscribed", "registration", "deposit"]
    journey(client, space, "spring", "DE", full, now, "3515.00")
    journey(client, space, "spring", "DE", full, now, "120.50", currency="EUR")
    journey(client, space, "summer", "FR", ["contact", "deposit"], now, "80.00", currency="EUR")
    journey(client, space, "ghost-link", "BR", ["contact", "subscribed"], now)
    send_event(client, space, event="contact", uid="no-click-1", occurred_at_ms=clock_lib.to_ms(now))
    send_event(client, space, event="deposit", uid="no-click-1", value="7", currency="GBP",
               occurred_at_ms=clock_lib.to_ms(now), eid="gbp-1")
    for event in full:
        send_event(client, space, event=event, uid="test-uid", value="999", currency="USD", test=True,
                   eid=f"t-{event}", occurred_at_ms=clock_lib.to_ms(now))
    return space


def test_every_breakdown_sums_to_its_headline(login, mixed):
    client = login()
    funnel = partial(client, mixed, "funnel")
    revenue = partial(client, mixed, "revenue")
    links = partial(client, mixed, "attribution")
    stages = counts(funnel, ".stage")
    # Every journey counts at each stage up to its furthest: 5 contacted; 4 reached a deposit,
    # 2 of them without their subscribed and registration events.
    assert stages == [5, 5, 4, 4]
    rows = links.select("#attribution tbody tr[id]")
    assert {r["id"] for r in rows} == {"link-spring", "link-summer", "link-unknown", "link-none"}
    for column, headline in (("clicks", int(revenue.find(id="revenue-clicks")["data-count"])),
                             ("subscribed", stages[1]), ("registration", stages[2]), ("deposit", stages[3])):
        per_link = sum(int(r.select_one(f".{column}")["data-count"]) for r in rows)
        assert per_link == headline == int(links.select_one(f"#link-total .{column}")["data-count"]), column
    for code in ("USD", "EUR", "GBP"):
        headline = Decimal(revenue.find(id=f"revenue-{code}")["data-amount"])
        per_link = sum(Decimal(a["data-amount"]) for a in links.select(f"tbody .revenue [data-currency={code}]"))
        assert per_link == headline, code
    assert links.select_one("#link-unknown .clicks").text == "1"
    assert links.select_one("#link-unknown th").text.strip() == "(unknown link)"


def test_the_funnel_never_rises_and_counts_skipped_events(login, mixed):
    page = partial(login(), mixed, "funnel")
    rates = [s.text for s in page.select(".stage .step")]
    assert all(float(r.rstrip("%")) <= 100 for r in rates), rates
    # summer's journey and the click-less one deposited without subscribing or registering.
    assert int(page.find(id="skipped-subscribed")["data-count"]) == 2
    assert int(page.find(id="skipped-registration")["data-count"]) == 2
    assert page.find(id="skipped-deposit") is None


def test_every_currency_is_shown_per_link_and_per_click(login, mixed, db):
    db.execute("UPDATE spaces SET currency = 'EUR' WHERE id = %s", (mixed["id"],))
    client = login()
    links = partial(client, mixed, "attribution")
    summer = links.find(id="link-summer")
    assert [a["data-currency"] for a in summer.select(".revenue .amount")] == ["EUR"]
    assert summer.select_one(".revenue .main").text.split(" · ")[0] == "80.00 EUR"
    spring = links.find(id="link-spring")
    assert [a.text.split(" · ")[0] for a in spring.select(".revenue .amount")] == ["120.50 EUR", "3,515.00 USD"]
    assert [a.text for a in spring.select(".revenue .per-click-inline")] == [" · 60.25/click",
                                                                             " · 1,757.50/click"]
    assert [a.text for a in spring.select(".per-click .amount")] == ["60.25 EUR", "1,757.50 USD"]
    revenue = partial(client, mixed, "revenue")
    shown = {a["data-currency"]: a.text for a in revenue.select("#revenue-per-click .amount")}
    # 4 clicks: 200.50 EUR, 3,515 USD and 7 GBP per click, two decimals each.
    assert shown == {"EUR": "50.12 EUR", "USD": "878.75 USD", "GBP": "1.75 GBP"}
    assert list(shown)[0] == "EUR"


def test_test_events_are_recorded_shown_and_never_counted(login, mixed, db, client):
    (row,) = db.execute("SELECT count(*) AS n FROM events WHERE test").fetchall()
    assert row["n"] == 4
    assert db.execute("SELECT count(*) AS n FROM journeys WHERE uid = 'test-uid'").fetchone()["n"] == 0
    viewer = login()
    revenue = partial(viewer, mixed, "revenue")
    assert revenue.find(id="revenue-USD")["data-amount"] == "3515.000000"
    feed = partial(viewer, mixed, "feed")
    assert len(feed.select("#feed-rows .badge.test")) == 4
    journey_page = html(viewer.get(f"/spaces/{mixed['slug']}/received/journeys/test-uid"))
    assert len(journey_page.select("#journey-events .badge.test")) == 4
    received = html(viewer.get(f"/spaces/{mixed['slug']}/received/"))
    assert len(received.select(".received-row .badge.test")) == 4
    # A rebuild from the raw tables agrees with the triggers.
    before = db.execute("SELECT link_slug, day, kind, currency, n, amount FROM rollup_days"
                        " WHERE space_id = %s AND n <> 0 ORDER BY 1, 2, 3, 4", (mixed["id"],)).fetchall()
    db.execute("SELECT deck_rebuild(%s)", (mixed["id"],))
    after = db.execute("SELECT link_slug, day, kind, currency, n, amount FROM rollup_days"
                       " WHERE space_id = %s AND n <> 0 ORDER BY 1, 2, 3, 4", (mixed["id"],)).fetchall()
    assert before == after


def test_a_test_event_never_makes_the_real_one_a_duplicate(client, space):
    assert send_event(client, space, event="deposit", uid="u1", value="5", eid="tx-1", test=True)["status"] == "queued"
    assert send_event(client, space, event="deposit", uid="u1", value="5", eid="tx-1")["status"] == "queued"
    assert send_event(client, space, event="deposit", uid="u1", value="5", eid="tx-1", test=True)["status"] == \
        "duplicate"


def test_get_e_takes_test_1_and_refuses_a_bad_test_value(client, space, db):
    ok = client.get(f"/e?token={space['ingest']}&event=deposit&uid=pb-1&value=3&eid=pb-tx&test=1")
    assert ok.status_code == 200 and ok.json["status"] == "queued"
    assert db.execute("SELECT test FROM events WHERE eid = 'pb-tx'").fetchone()["test"] is True
    bad = client.get(f"/e?token={space['ingest']}&event=deposit&uid=pb-1&eid=pb-tx2&test=maybe")
    assert bad.status_code == 400 and bad.json["status"] == "invalid_request" and "test" in bad.json["error"]
    body = client.post("/events", data=json.dumps({"event": "contact", "test": "yes"}),
                       headers={**bearer(space), "Content-Type": "application/json"})
    assert body.status_code == 400 and body.json["status"] == "invalid_request"


def test_test_events_reach_only_destinations_that_accept_them(app, client, space, db):
    plain, _ = make_destination(app, space, "webhook", name="plain", url="http://127.0.0.1:9/a")
    accepting, _ = make_destination(app, space, "webhook", name="accepting", url="http://127.0.0.1:9/b")
    capi_no_code, _ = make_destination(app, space, "capi", name="capi live", pixel_id="1", access_token="EAAB-x")
    capi_code, _ = make_destination(app, space, "capi", name="capi test", pixel_id="2", access_token="EAAB-y",
                                    test_event_code="TEST1")
    with app.app_context():
        configure.update_destination(space["id"], accepting.id, {"url": "http://127.0.0.1:9/b"},
                                     name="accepting", event_map=None, accept_test=True)
    inbox = send_event(client, space, event="deposit", uid="u", value="1", eid="t1", test=True)["inbox_id"]
    got = {r["destination_id"] for r in db.execute("SELECT destination_id FROM deliveries WHERE event_id = %s",
                                                   (int(inbox),))}
    assert got == {accepting.id, capi_code.id}
    assert capi_no_code.id not in got and plain.id not in got
    # Test deliveries are not in the deck's matrix.
    with app.test_request_context():
        from app.delivery import store
        from app import db as app_db
        with app_db.connection() as conn:
            summary = store.summarize_matrix(conn, space["id"], clock_lib.now() - timedelta(days=1),
                                             clock_lib.now() + timedelta(days=1))
    assert summary == []


def test_the_keys_page_examples_use_a_real_link_and_test_events(login, space, db):
    make_link(db, space, "spring", "Spring creative")
    page = html(login("admin").get(f"/spaces/{space['slug']}/keys/"))
    clicks = page.select_one("#curl-clicks").get_text()
    assert '"link_slug":"spring"' in clicks and "fb-spring" not in clicks
    assert '"test":true' in page.select_one("#curl-events").get_text()
    assert "test=1" in page.select_one("#curl-e").get_text()


# ---- times -------------------------------------------------------------------------------------

def test_times_are_in_the_space_zone_with_the_date_when_not_today(clock):
    now = clock.now.replace(hour=12, minute=0)
    assert format_local(now, "Europe/Kyiv", now=now) == (now + timedelta(hours=2)).strftime("%H:%M:%S")
    yesterday = now - timedelta(days=1)
    assert format_local(yesterday, "Europe/Kyiv", now=now) == (yesterday + timedelta(hours=2)).strftime(
        "%Y-%m-%d %H:%M:%S")


def test_the_feed_shows_the_space_zone(login, space, db, client, clock):
    db.execute("UPDATE spaces SET time_zone = 'Asia/Tokyo' WHERE id = %s", (space["id"],))
    send_event(client, space, event="contact", uid="tz-1", occurred_at_ms=clock_lib.to_ms(clock.now))
    viewer = login()
    feed = partial(viewer, space, "feed")
    shown = feed.select_one("#feed-rows time").text
    assert shown == format_local(clock.now, "Asia/Tokyo")
    deck = html(viewer.get(f"/spaces/{space['slug']}/"))
    assert deck.find(id="range-label").text.endswith("times in Asia/Tokyo")


# ---- forms act once ----------------------------------------------------------------------------

def form_fields(page, form_selector):
    form = page.select_one(form_selector)
    return {i["name"]: i.get("value", "") for i in form.select("input[name]") if i.get("type") != "checkbox"}


def submit_twice(client, path, fields):
    first = client.post(path, data=fields)
    second = client.post(path, data=fields)
    return first, second


@pytest.mark.parametrize("screen, path, form, extra, table", [
    ("destinations/new?kind=webhook", "destinations/new?kind=webhook", "#destination-form",
     {"url": "http://127.0.0.1:9/hook"}, "destinations"),
    ("links/new", "links/new", "#link-form", {"slug": "once", "name": "Once", "kind": "bot", "target": "demo_bot",
                                              "mode": "page"},
     "links"),
    ("domains/", "domains/", "#add-domain", {"hostname": "go.example.com"}, "domains"),
    ("members/", "members/", "#add-member-form", {"email": "new@example.com", "role": "viewer"}, "invitations"),
])
def test_a_repeated_form_creates_nothing_twice(login, space, db, screen, path, form, extra, table):
    client = login("admin")
    page = html(client.get(f"/spaces/{space['slug']}/{screen}"))
    fields = {**form_fields(page, form), **extra}
    assert fields.get("form_token")
    first, second = submit_twice(client, f"/spaces/{space['slug']}/{path}", fields)
    assert first.status_code in (302, 303), first.get_data(as_text=True)[:500]
    assert second.status_code == 303 and second.location == first.location
    n = db.execute(f"SELECT count(*) AS n FROM {table} WHERE space_id = %s", (space["id"],)).fetchone()["n"]
    assert n == 1


def test_a_repeated_rotation_rotates_once(login, space, db):
    client = login("admin")
    page = html(client.get(f"/spaces/{space['slug']}/keys/"))
    fields = form_fields(page, "form:has(#rotate-both)")
    first, second = submit_twice(client, f"/spaces/{space['slug']}/keys/rotate", fields)
    assert second.location == first.location
    assert db.execute("SELECT count(*) AS n FROM api_keys WHERE space_id = %s", (space["id"],)).fetchone()["n"] == 4


def test_a_repeated_space_creation_creates_one_space(login, space, db):
    client = login("admin")
    page = html(client.get("/spaces/new"))
    fields = {**form_fields(page, "#new-space-form"), "name": "Twice", "time_zone": "UTC", "currency": "USD"}
    first, second = submit_twice(client, "/spaces/new", fields)
    assert second.location == first.location
    assert db.execute("SELECT count(*) AS n FROM spaces WHERE name = 'Twice'").fetchone()["n"] == 1


def test_a_repeated_test_send_and_secret_rotation_act_once(app, login, space, db, httpserver):
    httpserver.expect_request("/hook").respond_with_data("ok")
    hook, _ = make_destination(app, space, "webhook", url=httpserver.url_for("/hook"))
    client = login("admin")
    page = html(client.get(f"/spaces/{space['slug']}/destinations/{hook.id}/edit"))
    fields = {**form_fields(page, "#test-form"), "event": "deposit"}
    first, second = submit_twice(client, f"/spaces/{space['slug']}/destinations/{hook.id}/test", fields)
    assert first.status_code == 200 and second.status_code == 409
    assert len(httpserver.log) == 1
    rotate = form_fields(page, f"form[action$='/{hook.id}/rotate-secret']")
    first, second = submit_twice(client, f"/spaces/{space['slug']}/destinations/{hook.id}/rotate-secret", rotate)
    assert second.location == first.location
    shown = html(client.get(first.location))
    assert shown.select_one("#signing-secret") is not None
    again = html(client.get(first.location))
    assert again.select_one("#signing-secret") is None and again.select_one("#secret-gone") is not None


def test_a_form_that_failed_validation_can_be_sent_again(login, space, db):
    client = login("admin")
    page = html(client.get(f"/spaces/{space['slug']}/domains/"))
    fields = {**form_fields(page, "#add-domain"), "hostname": "not a host"}
    assert client.post(f"/spaces/{space['slug']}/domains/", data=fields).status_code == 400
    fields["hostname"] = "go.example.com"
    assert client.post(f"/spaces/{space['slug']}/domains/", data=fields).status_code == 302


# ---- deleted destinations ------------------------------------------------------------------------

def test_a_deleted_destination_keeps_its_history(app, login, space, db, client):
    hook, _ = make_destination(app, space, "webhook", name="Old hook", url="http://127.0.0.1:9/h")
    inbox = send_event(client, space, event="deposit", uid="d-1", value="2", eid="del-1")["inbox_id"]
    admin = login("admin")
    response = admin.post(f"/spaces/{space['slug']}/destinations/{hook.id}/delete",
                          data={"csrf_token": csrf_of(admin, space["slug"])})
    assert response.status_code == 302 and response.location.endswith("done=deleted")
    assert html(admin.get(f"/spaces/{space['slug']}/destinations/")).find(id=f"destination-{hook.id}") is None
    (row,) = db.execute("SELECT status, last_error FROM deliveries WHERE event_id = %s", (int(inbox),)).fetchall()
    assert row == {"status": "dead", "last_error": "destination deleted"}
    matrix = partial(admin, space, "matrix")
    assert matrix.find(id=f"destination-{hook.id}").select_one(".deleted") is not None
    journey_page = html(admin.get(f"/spaces/{space['slug']}/received/journeys/d-1"))
    assert "Old hook (deleted)" in journey_page.select_one("#journey-events .deliveries").text
    send_event(client, space, event="deposit", uid="d-2", value="2", eid="del-2")
    assert db.execute("SELECT count(*) AS n FROM deliveries").fetchone()["n"] == 1
    assert admin.get(f"/spaces/{space['slug']}/destinations/{hook.id}/edit").status_code == 404


# ---- search --------------------------------------------------------------------------------------

def test_search_finds_a_journey_by_uid_in_any_case_tg_id_eid_and_inbox_id(login, space, client):
    uid = send_click(client, space)["uid"]
    client.post("/bind", data=json.dumps({"uid": uid, "tg_id": 777001}),
                headers={**bearer(space), "Content-Type": "application/json"})
    inbox = send_event(client, space, event="deposit", uid=uid, value="5", eid="tx-find-1")["inbox_id"]
    viewer = login()
    base = f"/spaces/{space['slug']}/received/find?q="
    for query, hint in ((uid, None), (uid.swapcase(), "case-sensitive"), ("777001", "Telegram user id"),
                        ("tx-find-1", "eid"), (inbox, "inbox id")):
        response = viewer.get(base + query)
        assert response.status_code == 303, query
        assert response.location.split("?")[0].endswith(f"/received/journeys/{uid}")
        page = html(viewer.get(response.location))
        if hint:
            assert hint in page.find(id="notice").text
    nothing = viewer.get(base + "nope")
    assert nothing.status_code == 200 and html(nothing).find(id="search-none") is not None


# ---- filters -------------------------------------------------------------------------------------

def test_unknown_filter_values_are_dropped_with_a_notice(login, space):
    page = html(login().get(f"/spaces/{space['slug']}/?range=today&link=ghost"))
    assert "not a link of this space" in page.select_one(".filter-notice").text
    assert page.find(id="filters")["data-canonical"].endswith("?range=today")
    assert page.select_one("#link-filter option[selected]") is None or \
        page.select_one("#link-filter option[selected]")["value"] == ""
    page = html(login().get(f"/spaces/{space['slug']}/?range=fortnight"))
    assert "Unknown range" in page.select_one(".filter-notice").text


def test_a_relative_range_stays_relative_with_a_link(login, space, db):
    make_link(db, space, "spring", "Spring creative")
    page = html(login().get(f"/spaces/{space['slug']}/?range=today&link=spring&from=2020-01-01&to=2020-01-02"))
    assert page.find(id="filters")["data-canonical"].endswith("?range=today&link=spring")
    assert page.select_one("#range-filter option[selected]")["value"] == "today"


def test_a_bad_custom_range_re_renders_the_deck_with_the_error_at_the_filter(login, space):
    response = login().get(f"/spaces/{space['slug']}/?range=custom&from=2026-03-10&to=2026-03-01")
    assert response.status_code == 400
    page = html(response)
    assert "`to` must not be before `from`" in page.find(id="filter-error").text
    assert page.find(id="from-filter")["value"] == "2026-03-10"
    assert page.find(id="funnel") is not None and page.find(id="attribution") is not None


# ---- tenancy of the new routes ---------------------------------------------------------------------

def test_the_new_routes_check_ownership_and_csrf(app, login, space, other_space, client):
    hook, _ = make_destination(app, other_space, "webhook", url="http://127.0.0.1:9/h")
    send_event(client, other_space, event="contact", uid="bob-uid")
    alice = login("admin")
    token = csrf_of(alice, space["slug"])
    base = f"/spaces/{other_space['slug']}"
    assert alice.get(f"{base}/received/find?q=bob-uid").status_code == 404
    assert alice.get(f"/spaces/{space['slug']}/received/find?q=bob-uid").status_code == 200
    assert alice.get(f"{base}/destinations/{hook.id}/secret?reveal=x").status_code == 404
    assert alice.post(f"{base}/destinations/{hook.id}/delete", data={"csrf_token": token}).status_code == 404
    assert alice.post(f"/spaces/{space['slug']}/destinations/{hook.id}/delete",
                      data={"csrf_token": token}).status_code == 404
    bob = login("admin", other_space)
    assert bob.post(f"{base}/destinations/{hook.id}/delete", data={}).status_code == 403
    assert bob.get(f"{base}/received/find?q=bob-uid").status_code == 303


def test_a_reveal_is_only_for_the_user_who_made_it(app, login, space, db):
    hook, _ = make_destination(app, space, "webhook", url="http://127.0.0.1:9/h")
    first, second = login("admin"), login("admin")
    response = first.post(f"/spaces/{space['slug']}/destinations/{hook.id}/rotate-secret",
                          data={"csrf_token": csrf_of(first, space["slug"])})
    assert response.status_code == 303
    assert html(second.get(response.location)).select_one("#signing-secret") is None
    assert html(first.get(response.location)).select_one("#signing-secret") is not None
