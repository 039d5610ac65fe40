"""The pages under their Content-Security-Policy in a real browser: no inline script runs, and what
used to be inline (confirm prompts, htmx's 400 swaps) still works from static files.

Every browser test also fails on any CSP violation its tabs report (tests/conftest.py).
"""
import pytest
from playwright.sync_api import expect

from tests.dashboard.conftest import browser_sign_in, make_user
from tests.landing.landing_helpers import make_link


@pytest.fixture
def page(browser, app, live_server, space):
    make_user(app, "admin@example.com", [(space, "admin")])
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    tab = context.new_page()
    browser_sign_in(tab, live_server.url, "admin@example.com", space=space)
    yield tab
    context.close()


def test_an_injected_inline_script_is_refused_and_reported(page, live_server, space, csp_violations):
    page.goto(f"{live_server.url}/spaces/{space['slug']}/")
    seen = len(csp_violations)
    page.evaluate("() => { const s = document.createElement('script'); s.textContent = 'window.injected = 1';"
                  " document.body.appendChild(s); }")
    page.wait_for_timeout(500)
    assert page.evaluate("() => window.injected") is None
    reported = csp_violations[seen:]
    assert reported and "inline script" in reported[0]
    del csp_violations[seen:]  # expected here: keep it from failing this test


def test_archiving_a_link_asks_first_and_cancel_keeps_it(page, app, live_server, space, db):
    make_link(app, space, "promo")
    page.goto(f"{live_server.url}/spaces/{space['slug']}/links/")
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.click("form.archive button")
    page.wait_for_timeout(300)
    assert db.execute("SELECT archived_at FROM links WHERE slug = 'promo'").fetchone()["archived_at"] is None
    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        page.click("form.archive button")
    assert db.execute("SELECT archived_at FROM links WHERE slug = 'promo'").fetchone()["archived_at"] is not None


def test_the_postback_builder_swaps_in_its_400_answer(page, live_server, space):
    page.goto(f"{live_server.url}/spaces/{space['slug']}/keys/")
    page.select_option("#f-preset", "custom")
    page.select_option("#f-event", "deposit")
    expect(page.locator("#f-currency")).to_be_visible()
    page.fill("#f-currency", "dollars")
    page.press("#f-currency", "Tab")
    expect(page.locator("#e-currency")).to_contain_text("ISO 4217")
    expect(page.locator("#builder-error")).to_be_visible()
