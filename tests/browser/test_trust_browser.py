"""Issue 15 in a real browser (Debian's Chromium via Playwright) at 1440 and 390 px: forms that act
once, one clock, breakdowns that add up, test events, journey search, phones and filters.

Screenshots are written to tests/artifacts/trust-*.png on every run.
"""
from decimal import Decimal

import httpx
import pytest
from playwright.sync_api import expect
from werkzeug import Response

from app.delivery import configure
from tests.browser.test_deck_browser import app, post_event, run_worker  # noqa: F401
from tests.conftest import ARTIFACTS, bearer, screenshot
from tests.dashboard.conftest import browser_sign_in, make_user

WIDTHS = (1440, 390)


def make_link(db, space, slug, name):
    db.execute("INSERT INTO links (space_id, slug, name, kind, target, created_at, updated_at)"
               " VALUES (%s, %s, %s, 'bot', 'demo_bot', now(), now())", (space["id"], slug, name))


def click(server, space, **fields) -> str:
    response = httpx.post(server.url + "/clicks", json=fields, headers=bearer(space), timeout=5)
    assert response.status_code == 200, response.text
    return response.json()["uid"]


@pytest.fixture
def tab(browser, app, live_server, space, db):  # noqa: F811
    db.execute("UPDATE spaces SET time_zone = 'Europe/Kyiv' WHERE id = %s", (space["id"],))
    make_user(app, "ops@example.com", [(space, "admin")])
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    page.errors = []
    # Console errors, with the URL of any failed load (the browser's own favicon probe aside).
    page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" and "404" not in m.text else None)
    page.on("response", lambda r: page.errors.append(f"{r.status} {r.url}")
            if r.status >= 400 and not r.url.endswith("/favicon.ico") and r.request.resource_type != "document"
            else None)
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.on("dialog", lambda d: d.accept())
    browser_sign_in(page, live_server.url, "ops@example.com", space=space)
    yield page
    context.close()


def seed(server, db, space):
    """Two links, USD and EUR deposits, a click on a made-up link and a test deposit."""
    make_link(db, space, "spring", "Spring creative")
    make_link(db, space, "summer", "Summer creative")
    for link, value, currency in (("spring", "3515.00", "USD"), ("spring", "120.50", "EUR"),
                                  ("summer", "80.00", "EUR")):
        uid = click(server, space, link_slug=link, country="DE")
        post_event(server, space, event="contact", uid=uid)
        post_event(server, space, event="deposit", uid=uid, value=value, currency=currency, eid=f"{link}-{value}")
    click(server, space, link_slug="no-such-link", country="BR")
    post_event(server, space, event="deposit", uid="test-buyer", value="999", currency="USD", eid="t-1", test=True)


def test_breakdowns_add_up_and_money_columns_fit_a_phone(tab, live_server, space, db):
    seed(live_server, db, space)
    tab.goto(f"{live_server.url}/spaces/{space['slug']}/?range=today")
    clicks = int(tab.locator("#revenue-clicks").get_attribute("data-count"))
    rows = tab.locator("#attribution tbody tr[id]")
    per_link = sum(int(rows.nth(i).locator(".clicks").get_attribute("data-count")) for i in range(rows.count()))
    assert per_link == clicks == 4
    expect(tab.locator("#link-unknown")).to_be_visible()
    for code in ("USD", "EUR"):
        headline = Decimal(tab.locator(f"#revenue-{code}").get_attribute("data-amount"))
        amounts = tab.locator(f"#attribution tbody .revenue [data-currency={code}]")
        assert sum(Decimal(amounts.nth(i).get_attribute("data-amount")) for i in range(amounts.count())) == headline
    expect(tab.locator("#link-spring .revenue")).to_contain_text("120.50 EUR")
    expect(tab.locator("#revenue-USD strong")).to_have_text("3,515.00")
    steps = tab.locator("#funnel .stage .step").all_inner_texts()
    assert all(float(s.rstrip("%")) <= 100 for s in steps), steps
    expect(tab.locator("#feed-rows .badge.test")).to_have_count(1)
    screenshot(tab, "trust-deck")
    tab.set_viewport_size({"width": 390, "height": 900})
    tab.locator("#attribution").scroll_into_view_if_needed()
    # Phones: link, clicks, deposits and revenue with its per-click figure, without scrolling.
    expect(tab.locator("#link-spring .revenue .per-click-inline").first).to_be_visible()
    for cell in ("th.link-name", ".clicks", ".deposit", ".revenue"):
        box = tab.locator(f"#link-spring {cell}").bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 390, (cell, box)
    assert tab.evaluate("document.documentElement.scrollWidth") <= 390
    tab.locator("#attribution").screenshot(path=str(ARTIFACTS / "trust-attribution-390.png"))
    assert tab.errors == []


def test_times_are_in_the_space_zone_live_and_in_the_attempt_log(tab, app, live_server, space, httpserver):  # noqa: F811
    httpserver.expect_request("/hook").respond_with_handler(lambda r: Response("no", status=500))
    with app.app_context():
        hook, _ = configure.create_destination(space["id"], "webhook", {"url": httpserver.url_for("/hook")},
                                               name="Flaky hook")
    expect(tab.locator("body.live")).to_have_count(1, timeout=5000)
    expect(tab.locator("#range-label")).to_contain_text("times in Europe/Kyiv")
    kyiv_time = "new Date().toLocaleTimeString('en-GB', {timeZone: 'Europe/Kyiv', hour12: false})"
    kyiv_before = tab.evaluate(kyiv_time)
    inbox = post_event(live_server, space, event="deposit", uid="kyiv-1", value="5", currency="USD", eid="k-1")
    row = tab.locator(f"#ev-{inbox} time")
    expect(row).to_be_visible(timeout=3000)
    kyiv_after = tab.evaluate(kyiv_time)
    # HH:MM in Kyiv; the minute may turn between posting and reading, so either side of it counts.
    assert row.inner_text()[:5] in (kyiv_before[:5], kyiv_after[:5]), (row.inner_text(), kyiv_before, kyiv_after)
    run_worker(app)
    tab.reload()
    tab.locator(f"#cell-{hook.id}-deposit a.failed").click()
    tab.locator("#cell a", has_text="attempts").first.click()
    summary = tab.locator("#cell .attempt summary time").first
    expect(summary).to_be_visible()
    assert summary.inner_text()[:5] in (kyiv_before[:5], kyiv_after[:5], tab.evaluate(kyiv_time)[:5]), summary.inner_text()
    # Retrying from the matrix: the attempts column counts the manual attempt, and the console stays clean.
    tab.locator("#cell button", has_text="Retry").first.click()
    expect(tab.locator(".retried")).to_be_visible()
    run_worker(app)
    tab.wait_for_timeout(1500)
    tab.reload()
    tab.locator(f"#cell-{hook.id}-deposit a.failed").click()
    expect(tab.locator("#cell td.attempts").first).to_contain_text("2 (1 manual)", timeout=5000)
    with tab.expect_response(lambda r: "/matrix/retry" in r.url) as answer:
        tab.click("#retry-all")
    assert answer.value.status == 200
    run_worker(app)
    tab.wait_for_timeout(1500)
    screenshot(tab, "trust-times")
    tab.set_viewport_size({"width": 390, "height": 900})
    assert tab.evaluate("document.documentElement.scrollWidth") <= 390
    assert tab.errors == []


def test_a_webhook_is_created_once_and_its_secret_shown_once(tab, live_server, space, db, httpserver):
    base = f"{live_server.url}/spaces/{space['slug']}/destinations/"
    tab.goto(base + "new?kind=webhook")
    tab.fill("#f-url", "https://hooks.partner.invalid/xt")
    tab.check("#f-accept_test")
    tab.click("#save")
    expect(tab.locator("#signing-secret")).to_be_visible()
    screenshot(tab, "trust-secret")
    tab.reload()
    expect(tab.locator("#secret-gone")).to_be_visible()
    tab.go_back()
    tab.reload()
    assert db.execute("SELECT count(*) AS n FROM destinations").fetchone()["n"] == 1
    tab.goto(base)
    (row,) = db.execute("SELECT id FROM destinations").fetchall()
    expect(tab.locator(f"#destination-{row['id']} .badge.test")).to_have_text("accepts tests")
    tab.set_viewport_size({"width": 390, "height": 900})
    for action in ("a.edit", "a.test", "form.pause button", f"#delete-{row['id']}"):
        box = tab.locator(f"#destination-{row['id']} {action}").bounding_box()
        assert box and 0 <= box["x"] and box["x"] + box["width"] <= 390, (action, box)
    screenshot(tab, "trust-destinations", widths=(390, 1440))
    tab.click(f"#delete-{row['id']}")
    expect(tab.locator("#notice")).to_contain_text("Destination deleted")
    assert db.execute("SELECT deleted_at IS NOT NULL AS gone FROM destinations").fetchone()["gone"] is True


def test_test_events_show_with_a_badge_and_search_opens_the_journey(tab, live_server, space):
    uid = click(live_server, space)
    httpx.post(live_server.url + "/bind", json={"uid": uid, "tg_id": 424242}, headers=bearer(space), timeout=5)
    post_event(live_server, space, event="deposit", uid=uid, value="25", currency="USD", eid="real-1")
    httpx.get(f"{live_server.url}/e", params={"token": space["ingest"], "event": "deposit", "uid": uid,
                                               "value": "1", "eid": "pb-test", "test": "1"}, timeout=5)
    tab.goto(f"{live_server.url}/spaces/{space['slug']}/received/")
    for _ in range(20):  # the log is written a moment after the answer: reload like a person would
        if tab.locator(".received-row .badge.test").count():
            break
        tab.wait_for_timeout(250)
        tab.reload()
    expect(tab.locator(".received-row .badge.test")).to_have_count(1)
    tab.fill("#search-q", uid.upper())
    tab.click("#search button")
    tab.wait_for_url(f"**/received/journeys/{uid}**")
    expect(tab.locator("#notice")).to_contain_text("case-sensitive")
    expect(tab.locator("#journey-events .badge.test")).to_have_count(1)
    expect(tab.locator("#zone-note")).to_have_text("Times are in Europe/Kyiv.")
    screenshot(tab, "trust-journey")
    tab.goto(f"{live_server.url}/spaces/{space['slug']}/")
    tab.fill("#search-q", "424242")
    tab.press("#search-q", "Enter")
    tab.wait_for_url(f"**/received/journeys/{uid}**")
    expect(tab.locator("#notice")).to_contain_text("Telegram user id")
    tab.goto(f"{live_server.url}/spaces/{space['slug']}/")
    tab.fill("#search-q", "real-1")
    tab.press("#search-q", "Enter")
    tab.wait_for_url(f"**/received/journeys/{uid}**")
    assert tab.errors == []


def test_filters_stay_relative_drop_unknown_values_and_show_a_bad_range(tab, live_server, space, db):
    make_link(db, space, "spring", "Spring creative")
    deck = f"{live_server.url}/spaces/{space['slug']}/"
    tab.goto(deck + "?range=today")
    tab.select_option("#link-filter", "spring")
    tab.wait_for_url("**link=spring**")
    assert "range=today" in tab.url and "from=" not in tab.url, tab.url
    tab.goto(deck + "?range=today&link=ghost")
    expect(tab.locator(".filter-notice")).to_contain_text("not a link of this space")
    assert "ghost" not in tab.url
    tab.goto(deck + "?range=custom&from=2026-03-10&to=2026-03-01")
    expect(tab.locator("#filter-error")).to_contain_text("`to` must not be before `from`")
    expect(tab.locator("#funnel")).to_be_visible()
    screenshot(tab, "trust-filters")


def test_phones_reach_every_action_and_read_the_docs(tab, live_server, space):
    tab.set_viewport_size({"width": 390, "height": 900})
    tab.goto(f"{live_server.url}/spaces/{space['slug']}/keys/")
    for button in ("#rotate-bearer", "#rotate-ingest", "#rotate-both"):
        box = tab.locator(button).bounding_box()
        assert box and 0 <= box["x"] and box["x"] + box["width"] <= 390, (button, box)
    tab.click("#rotate-ingest")
    expect(tab.locator("#secret-ingest")).to_be_visible()
    expect(tab.locator("#curl-e")).to_contain_text("test=1")
    tab.screenshot(path=str(ARTIFACTS / "trust-keys-390.png"), full_page=True)
    for page in ("api", "dashboard", "destinations", "quickstart"):
        tab.goto(f"{live_server.url}/docs/{page}")
        assert tab.evaluate("document.documentElement.scrollWidth") <= 390, page
    tab.screenshot(path=str(ARTIFACTS / "trust-docs-390.png"))
    assert tab.errors == []


def test_every_destination_form_fits_a_phone_and_keeps_its_sentences_whole(tab, live_server, space):
    """A checkbox's sentence with inline <code> stays one block of text, at 1440 and at 390 px."""
    for kind in configure.KINDS:
        for width in (1440, 390):
            tab.set_viewport_size({"width": width, "height": 900})
            tab.goto(f"{live_server.url}/spaces/{space['slug']}/destinations/new?kind={kind}")
            wide = tab.evaluate("""w => [...document.querySelectorAll('body *')]
                .filter(e => e.getBoundingClientRect().right > w + 1)
                .map(e => e.tagName + '#' + e.id + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right))
                .slice(0, 8)""", width)
            assert tab.evaluate("document.documentElement.scrollWidth") <= width, (kind, width, wide)
            for label in tab.locator("label.check").all():
                text, box = label.locator("span").first, label.bounding_box()
                assert text.bounding_box()["width"] > 0.5 * box["width"], (kind, width, label.inner_text())
    tab.screenshot(path=str(ARTIFACTS / "trust-destination-form-390.png"), full_page=True)
    assert tab.errors == []


SETUP_PAGES = ("links/new", "links/", "destinations/", "keys/", "domains/", "members/", "telegram/", "costs/",
               "reports/", "received/", "settings")


def test_every_setup_screen_fits_a_phone(tab, live_server, space):
    """No screen is wider than a 390 px phone: a select as wide as its longest option once made links/new 443 px."""
    tab.set_viewport_size({"width": 390, "height": 900})
    for page in SETUP_PAGES:
        response = tab.goto(f"{live_server.url}/spaces/{space['slug']}/{page}")
        assert response.status == 200, page
        wide = tab.evaluate("""() => [...document.querySelectorAll('body *')]
            .filter(e => e.getBoundingClientRect().right > 391)
            .map(e => e.tagName + '#' + e.id + '.' + e.className).slice(0, 8)""")
        assert tab.evaluate("document.documentElement.scrollWidth") <= 390, (page, wide)
    tab.goto(f"{live_server.url}/spaces/{space['slug']}/links/new")
    tab.screenshot(path=str(ARTIFACTS / "trust-link-form-390.png"), full_page=True)
    assert tab.errors == []
