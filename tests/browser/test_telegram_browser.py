"""The Telegram screen in a real browser: connect the bot, add the channel, edit the drip, see pool and webhook health.

Playwright drives Debian's Chromium against gunicorn (the Procfile's web line) whose Bot API is
the fake one over real HTTP; screenshots at 1440 and 390 px go to tests/artifacts/.
"""
import pytest
from playwright.sync_api import expect

from tests.conftest import LiveServer, screenshot
from tests.dashboard.conftest import browser_sign_in, make_user
from tests.telegram.fake_bot_api import BOT_ID, BOT_TOKEN, CHANNEL_ID, FakeBotApi


@pytest.fixture
def telegram():
    fake = FakeBotApi().start()
    yield fake
    fake.stop()


@pytest.fixture
def server(servers, telegram):
    instance = LiveServer(servers, env={"TELEGRAM_API_BASE_URL": telegram.url, "TELEGRAM_POOL_SIZE": "20"},
                          workers=1).start()
    yield instance
    instance.stop()


def test_an_admin_sets_up_the_channel_funnel_in_the_browser(browser, server, app, space, telegram):
    make_user(app, "admin@example.com", [(space, "admin")])
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    tab = context.new_page()
    browser_sign_in(tab, server.url, "admin@example.com", space=space)
    tab.click("#tab-telegram")
    expect(tab.locator("#no-bot")).to_be_visible()
    tab.fill("#f-bot_token", BOT_TOKEN)
    tab.click("#connect-bot-button")
    expect(tab.locator("#notice")).to_contain_text("Bot connected")
    expect(tab.locator("#bot-username")).to_have_text("@funnel_test_bot")
    expect(tab.locator("#webhook_health")).to_contain_text("webhook points here")  # loaded by htmx after the page
    telegram.members[(CHANNEL_ID, BOT_ID)]["can_invite_users"] = False
    tab.fill("#f-chat", str(CHANNEL_ID))
    tab.click("#add-channel-button")
    expect(tab.locator("#e-chat")).to_contain_text("Invite users via link")
    telegram.members[(CHANNEL_ID, BOT_ID)]["can_invite_users"] = True
    tab.click("#add-channel-button")
    expect(tab.locator("#notice")).to_contain_text("Channel connected")
    row = tab.locator(f"#channels tr.channel[data-chat-id='{CHANNEL_ID}']")
    expect(row.locator(".pool")).to_contain_text("20 / 20 ready")
    screenshot(tab, "telegram-screen")
    row.get_by_role("link", name="Edit drip").click()
    tab.fill("textarea[name=text-1]", "<b>Welcome</b> to the channel")
    tab.fill("textarea[name=buttons-1]", "Open the bot | https://t.me/funnel_test_bot?start=w")
    tab.fill("input[name=delay-2]", "1 week")
    tab.fill("textarea[name=text-2]", "Later")
    tab.click("#save-drip")
    expect(tab.locator("#drip-steps .error").first).to_contain_text("delay")
    tab.fill("input[name=delay-2]", "24h")
    tab.click("#save-drip")
    expect(tab.locator("#notice")).to_contain_text("Welcome drip saved")
    expect(row.locator(".drip")).to_contain_text("2 steps")
    context.close()
