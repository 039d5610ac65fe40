"""The received page in a real browser: listen mode shows a postback as it arrives, then its journey.

Playwright drives Debian's Chromium against gunicorn (the Procfile's web line, two workers, so the
request and the listening page may be served by different processes). Screenshots go to
tests/artifacts/.
"""
from urllib.parse import urlencode

import httpx
import pytest
from playwright.sync_api import expect

from tests.conftest import ARTIFACTS, bearer
from tests.dashboard.conftest import PASSWORD, make_user


@pytest.fixture
def page(browser, app, live_server, space):
    make_user(app, "viewer@example.com", [(space, "viewer")])
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    tab = context.new_page()
    tab.goto(live_server.url + "/login")
    tab.fill("input[name=email]", "viewer@example.com")
    tab.fill("input[name=password]", PASSWORD)
    tab.click("#login button[type=submit]")
    tab.wait_for_url(f"**/spaces/{space['slug']}/")
    yield tab
    context.close()


def screenshot(tab, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    for width in (1440, 390):
        tab.set_viewport_size({"width": width, "height": 1000})
        tab.wait_for_timeout(200)
        tab.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)
    tab.set_viewport_size({"width": 1440, "height": 1000})


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
