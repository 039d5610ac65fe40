"""The deck in a real browser: Playwright driving Debian's Chromium against gunicorn (Procfile web line).

Screenshots at 1440 and 390 px are written to tests/artifacts/ on every run.
"""

import httpx
import pytest
from playwright.sync_api import expect
from rq import SimpleWorker
from werkzeug import Response

from app import close_app, create_app
from app.conversion import wake
from app.delivery import configure
from jobs import QUEUES, queue_connection
from tests.conftest import bearer, screenshot, settings
from tests.dashboard.conftest import browser_sign_in, make_user



@pytest.fixture
def app(servers):
    """The test process's app on the system clock (like the live server): its worker may call the local sink."""
    application = create_app(settings(servers, ALLOW_PRIVATE_DESTINATIONS=True,
                                      DELIVERY_READ_TIMEOUT=1.0, DELIVERY_CONNECT_TIMEOUT=1.0))
    yield application
    close_app(application)


def run_worker(app) -> None:
    with app.app_context():
        wake.wake(app, wake.DELIVERY)
        SimpleWorker(QUEUES, connection=queue_connection(app)).work(burst=True, logging_level="WARNING")


def post_event(server, space, **body) -> str:
    response = httpx.post(server.url + "/events", json=body, headers=bearer(space), timeout=5)
    assert response.status_code == 200, response.text
    return response.json()["inbox_id"]


@pytest.fixture
def page(browser, app, live_server, space):
    make_user(app, "alice@example.com", [(space, "operator")])
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    tab = context.new_page()
    browser_sign_in(tab, live_server.url, "alice@example.com", space=space)
    yield tab
    context.close()


def test_it_logs_in_and_renders_every_widget(page):
    for widget in ("#funnel", "#gauge", "#revenue", "#feed", "#map", "#attribution", "#matrix"):
        expect(page.locator(widget)).to_be_visible()
    expect(page.locator("#matrix h2")).to_contain_text("Delivery matrix")


def test_it_shows_a_posted_event_live_and_moves_the_funnel(page, live_server, space):
    expect(page.locator("body.live")).to_have_count(1, timeout=5000)
    expect(page.locator("#funnel-contact .count")).to_have_text("0")
    for i in range(3):
        post_event(live_server, space, event="contact", uid=f"seed-{i}", value="1", currency="USD")
    post_event(live_server, space, event="deposit", uid="seed-0", value="42.50", currency="USD")
    inbox_id = post_event(live_server, space, event="subscribed", uid="seed-1")
    expect(page.locator(f"#ev-{inbox_id}")).to_be_visible(timeout=1000)
    expect(page.locator("#funnel-contact .count")).to_have_text("3", timeout=5000)
    expect(page.locator("#revenue-USD strong")).to_have_text("42.50", timeout=5000)
    screenshot(page, "deck")


def test_a_browser_without_websockets_gets_the_live_feed_over_sse(browser, app, live_server, space):
    make_user(app, "alice@example.com", [(space, "viewer")])
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    context.add_init_script("delete window.WebSocket;")
    tab = context.new_page()
    try:
        browser_sign_in(tab, live_server.url, "alice@example.com", space=space)
        assert tab.evaluate("typeof window.WebSocket") == "undefined"
        expect(tab.locator("#feed[sse-connect]")).to_have_count(1)
        expect(tab.locator("body.live")).to_have_count(1, timeout=5000)
        inbox_id = post_event(live_server, space, event="contact", uid="sse-viewer")
        expect(tab.locator(f"#ev-{inbox_id}")).to_be_visible(timeout=2000)
        expect(tab.locator("#funnel-contact .count")).to_have_text("1", timeout=5000)
    finally:
        context.close()


def test_it_changes_the_numbers_with_the_date_filter(page, live_server, space):
    post_event(live_server, space, event="contact", uid="today-1")
    page.reload()
    expect(page.locator("#funnel-contact .count")).to_have_text("1")
    page.click("#preset-yesterday")
    expect(page.locator("#preset-yesterday")).to_have_class("preset active")
    expect(page.locator("#funnel-contact .count")).to_have_text("0")
    assert "range=yesterday" in page.url


def test_it_turns_a_failed_delivery_delivered_after_a_retry_from_the_matrix(page, app, live_server, space,
                                                                             httpserver):
    status = {"code": 500}
    httpserver.expect_request("/hook").respond_with_handler(
        lambda request: Response(f"sink {status['code']}", status=status["code"]))
    with app.app_context():
        destination, _ = configure.create_destination(space["id"], "webhook", {"url": httpserver.url_for("/hook")},
                                                      name="Partner hook")
    post_event(live_server, space, event="deposit", uid="dep-1", value="10", currency="USD")
    run_worker(app)
    page.reload()
    cell = page.locator(f"#cell-{destination.id}-deposit")
    expect(cell.locator("a.failed")).to_have_text("1")
    cell.locator("a.failed").click()
    expect(page.locator("#cell tr[id^=delivery-]")).to_have_count(1)
    page.locator("#cell a", has_text="attempts").first.click()
    expect(page.locator("#cell .excerpt.response").first).to_contain_text("sink 500")
    screenshot(page, "drill")
    status["code"] = 200
    page.locator("#cell button", has_text="Retry").first.click()
    expect(page.locator(".retried")).to_be_visible()
    run_worker(app)
    expect(cell.locator("a.delivered")).to_have_text("1", timeout=5000)
    screenshot(page, "matrix")
