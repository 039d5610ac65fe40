"""The Telegram screen in a real browser: connect the bot, add the channel, edit the drip, see pool and webhook health;
and the deck's Telegram channels panel (subscribers chart, joins and leaves by link) at 1440 and 390 px.

Playwright drives Debian's Chromium against gunicorn (the Procfile's web line) whose Bot API is
the fake one over real HTTP; screenshots at 1440 and 390 px go to tests/artifacts/.
"""
import pytest
from playwright.sync_api import expect

from tests.conftest import ARTIFACTS, LiveServer, screenshot
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


def seed_channel_history(app, space) -> None:
    """A connected channel with two days of hourly stats and, through link `signals`, two joins and a leave."""
    from datetime import timedelta

    from app import db as app_db
    from app.telegram import store
    runner = app.test_cli_runner()
    result = runner.invoke(args=["link", "create", space["slug"], "--slug", "signals", "--kind", "web",
                                 "--target", "https://example.com/offer", "--json"])
    assert result.exit_code == 0, result.output
    now = app.config["CLOCK"]()
    hour = now.replace(minute=0, second=0, microsecond=0)
    with app.app_context(), app_db.transaction() as conn:
        store.save_channel(conn, space["id"], chat_id=CHANNEL_ID, title="Signals Channel", username=None,
                           chat_type="channel", fallback_link="https://t.me/+primaryPrimary01", now=now)
        store.set_member_count(conn, space["id"], CHANNEL_ID, 1012, now)
        link_id = conn.execute("SELECT id FROM links WHERE space_id = %(s)s AND slug = 'signals'",
                               {"s": space["id"]}).fetchone()["id"]
        for n, (user_id, kind, ago) in enumerate(((1, "join", 30), (2, "join", 20), (1, "leave", 5), (3, "join", 4))):
            store.record_member_change(conn, space["id"], chat_id=CHANNEL_ID, user_id=user_id, kind=kind,
                                       at=now - timedelta(hours=ago), uid=None, link_id=None if user_id == 3 else link_id,
                                       update_id=n + 1)
        for ago in range(48, 0, -1):
            conn.execute("INSERT INTO telegram_channel_stats (space_id, chat_id, hour, member_count, joins, leaves)"
                         " VALUES (%(s)s, %(c)s, %(h)s, %(m)s, %(j)s, %(l)s)",
                         {"s": space["id"], "c": CHANNEL_ID, "h": hour - timedelta(hours=ago), "m": 1000 + (48 - ago) // 4,
                          "j": ago % 3, "l": int(ago % 5 == 0)})


@pytest.mark.parametrize("width", [1440, 390])
def test_the_deck_shows_each_channels_subscribers_and_joins_and_leaves_by_link(browser, server, app, space, width):
    seed_channel_history(app, space)
    make_user(app, "viewer@example.com", [(space, "viewer")])
    context = browser.new_context(viewport={"width": width, "height": 1000})
    tab = context.new_page()
    browser_sign_in(tab, server.url, "viewer@example.com", space=space)
    panel = tab.locator("#telegram_channels")
    expect(panel).to_be_visible()  # fetched by htmx after the deck, swapped in place of the hidden placeholder
    figure = panel.locator(f"figure.subscribers[data-chat-id='{CHANNEL_ID}']")
    expect(figure.locator("figcaption")).to_contain_text("Signals Channel · 1012 members")
    chart = figure.locator("svg")
    expect(chart).to_be_visible()
    assert len(chart.locator("polyline").get_attribute("points").split()) == 48
    assert chart.locator("rect.join").count() > 0 and chart.locator("rect.leave").count() > 0
    rows = panel.locator("#deck-link-membership tbody tr")
    expect(rows).to_have_count(2)
    cells = [c.strip() for c in rows.nth(0).locator("td").all_inner_texts()]
    assert cells == ["signals", "Signals Channel", "2", "1", "1", "1"]
    expect(rows.nth(1).locator("td").first).to_have_text("unattributed")
    # The chart and the table stay inside the panel and the page does not scroll sideways.
    box, chart_box = panel.bounding_box(), chart.bounding_box()
    assert chart_box["x"] >= box["x"] - 1 and chart_box["x"] + chart_box["width"] <= box["x"] + box["width"] + 1
    assert tab.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    panel.scroll_into_view_if_needed()
    ARTIFACTS.mkdir(exist_ok=True)
    tab.screenshot(path=str(ARTIFACTS / f"telegram-deck-{width}.png"), full_page=True)
    context.close()
