"""The landing page in a real browser (Playwright + Debian's Chromium) against gunicorn: it opens the target at once,
and shows a working button when scripts cannot run."""
import re
import uuid
from urllib.parse import parse_qs, urlsplit

from playwright.sync_api import expect

from tests.conftest import ARTIFACTS
from tests.landing.landing_helpers import BROWSER_UA, clicks, make_link



def test_the_page_sends_the_browser_on_to_the_web_target_with_its_uid(browser, app, space, db, live_server, httpserver):
    httpserver.expect_request("/welcome").respond_with_data("<h1>welcome</h1>", content_type="text/html")
    slug = "web-" + uuid.uuid4().hex[:8]
    make_link(app, space, slug, kind="web", target=httpserver.url_for("/welcome") + "?click={uid}")
    context = browser.new_context(user_agent=BROWSER_UA)
    page = context.new_page()
    page.goto(f"{live_server.url}/{slug}?fbclid=Br0wser-_Test")
    page.wait_for_url(re.compile(r".*/welcome\?click=.+"))
    uid = parse_qs(urlsplit(page.url).query)["click"][0]
    context.close()
    [click] = clicks(db)
    assert click["uid"] == uid and click["fbclid"] == "Br0wser-_Test"


def test_without_scripts_the_button_opens_the_bot_deep_link(browser, app, space, db, live_server):
    slug = "bot-" + uuid.uuid4().hex[:8]
    make_link(app, space, slug)
    context = browser.new_context(user_agent=BROWSER_UA, java_script_enabled=False,
                                  viewport={"width": 390, "height": 700})
    page = context.new_page()
    page.goto(f"{live_server.url}/{slug}")
    button = page.locator("a#open")
    expect(button).to_be_visible()
    expect(button).to_have_text("Open in Telegram")
    [click] = clicks(db)
    assert button.get_attribute("href") == f"https://t.me/xt_funnel_bot?start=fb_{click['uid']}"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "landing-390.png"))
    context.close()
