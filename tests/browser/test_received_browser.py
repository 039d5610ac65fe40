"""The received page in a real browser: listen mode shows a postback as it arrives, then its journey.

Playwright drives Debian's Chromium against gunicorn (the Procfile's web line, two workers, so the
request and the listening page may be served by different processes). Screenshots go to
tests/artifacts/.
"""
from urllib.parse import urlencode

import httpx
import pytest
from playwright.sync_api import expect

from tests.conftest import bearer, screenshot
from tests.dashboard.conftest import browser_sign_in, make_user


@pytest.fixture
def page(browser, app, live_server, space):
    make_user(app, "viewer@example.com", [(space, "viewer")])
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    tab = context.new_page()
    browser_sign_in(tab, live_server.url, "viewer@example.com", space=space)
    yield tab
    context.close()


def test_listen_mode_shows_an_unexpanded_macro_postback_and_links_its_journey(page, live_server, space):
    click = httpx.post(live_server.url + "/clicks", json={"fbclid": "IwAR-browser", "country": "PT"},
                       headers=bearer(space), timeout=5)
    uid = click.json()["uid"]
    page.goto(f"{live_server.url}/spaces/{space['slug']}/received/")
    page.click("#listen-toggle")
    expect(page.locator("#listen-toggle")).to_have_attribute("aria-checked", "true")
    expect(page.locator("#received-rows[data-live]")).to_have_count(1, timeout=5000)

    sent = httpx.get(live_server.url + "/e?" + urlencode(
        {"token": space["ingest"], "event": "deposit", "uid": uid, "value": "{sumdep}"}), timeout=5)
    assert sent.status_code == 400 and sent.json()["status"] == "invalid_value"

    row = page.locator("#received-rows tr.received-row", has_text="GET /e")
    expect(row).to_have_count(1, timeout=2500)
    expect(row.locator('.warning[data-code="unexpanded_macro"]')).to_contain_text("value={sumdep}")
    expect(row.locator(".status .badge")).to_have_text("invalid_value")
    expect(row.locator(".status .http")).to_have_text("400")
    assert space["ingest"] not in page.content()
    screenshot(page, "received-listen")

    row.locator(".uid a").click()
    page.wait_for_url(f"**/received/journeys/{uid}")
    expect(page.locator("#journey-uid")).to_have_text(uid)
    expect(page.locator("#journey-click .fbclid")).to_have_text("IwAR-browser")
    expect(page.locator("#journey-click .cc")).to_have_text("PT")
    screenshot(page, "received-journey")
