"""The Telegram screen: connect, add channels, the approve switch, the drip editor, waiting requests, tenancy."""
from tests.dashboard.conftest import csrf_of, html, login  # noqa: F401
from tests.telegram.conftest import add_channel, cli, connect_bot, post_update, run_worker
from tests.telegram.fake_bot_api import BOT_ID, BOT_TOKEN, CHANNEL_ID, join_request_update


def screen(space) -> str:
    return f"/spaces/{space['slug']}/telegram/"


def test_an_admin_connects_the_bot_and_adds_a_channel_from_the_screen(app, login, space, db, telegram):
    admin = login("admin")
    token = csrf_of(admin, space["slug"])
    page = html(admin.get(screen(space)))
    assert page.select_one("#no-bot") and page.select_one("#connect-bot") and not page.select_one("#add-channel")
    bad = admin.post(screen(space) + "bot", data={"csrf_token": token, "bot_token": "123:nope"})
    assert bad.status_code == 400
    assert "not a bot token" in html(bad).select_one("#e-bot_token").text
    response = admin.post(screen(space) + "bot", data={"csrf_token": token, "bot_token": BOT_TOKEN})
    assert response.status_code == 302
    page = html(admin.get(response.headers["Location"]))
    assert page.select_one("#notice").text.startswith("Bot connected")
    assert page.select_one("#bot-username").text == "@funnel_test_bot"
    assert BOT_TOKEN not in str(page) and telegram.webhooks[str(BOT_ID)]["secret_token"] not in str(page)
    telegram.members[(CHANNEL_ID, BOT_ID)]["can_invite_users"] = False
    refused = admin.post(screen(space) + "channels", data={"csrf_token": token, "chat": str(CHANNEL_ID)})
    assert refused.status_code == 400
    assert "Invite users via link" in html(refused).select_one("#e-chat").text
    assert html(refused).select_one("#f-chat")["value"] == str(CHANNEL_ID)
    telegram.members[(CHANNEL_ID, BOT_ID)]["can_invite_users"] = True
    added = admin.post(screen(space) + "channels", data={"csrf_token": token, "chat": str(CHANNEL_ID)})
    assert added.status_code == 302
    page = html(admin.get(screen(space)))
    row = page.select_one(f"#channels tr.channel[data-chat-id='{CHANNEL_ID}']")
    assert "connected" in row.select_one(".status").text and "5 / 5 ready" in row.select_one(".pool").text
    health = html(admin.get(screen(space) + "webhook-health"))
    assert "webhook points here" in health.select_one("#webhook_health").text


def test_a_viewer_sees_the_state_but_no_controls(app, login, space, telegram):
    connect_bot(app, telegram, space)
    add_channel(app, space)
    viewer = login("viewer")
    page = html(viewer.get(screen(space)))
    assert page.select_one("#channels") and not page.select_one("#connect-bot") and not page.select_one("#add-channel")
    assert not page.select("#channels form")
    drip = html(viewer.get(screen(space) + f"channels/{CHANNEL_ID}/drip"))
    assert not drip.select_one("#save-drip")
    token = csrf_of(viewer, space["slug"])
    assert viewer.post(screen(space) + "bot", data={"csrf_token": token, "bot_token": BOT_TOKEN}).status_code == 403


def test_the_drip_editor_saves_valid_steps_and_refuses_what_telegram_would(app, login, space, db, telegram):
    connect_bot(app, telegram, space)
    add_channel(app, space)
    admin = login("admin")
    token = csrf_of(admin, space["slug"])
    path = screen(space) + f"channels/{CHANNEL_ID}/drip"
    form = {"csrf_token": token, "rows": "3", "delay-1": "now", "text-1": "<b>Welcome</b>",
            "buttons-1": "Open the bot | https://t.me/funnel_test_bot?start=w", "delay-2": "later", "text-2": "<div>x</div>"}
    refused = admin.post(path, data=form)
    assert refused.status_code == 400
    errors = [e.text for e in html(refused).select("#drip-steps .error")]
    assert any("delay" in e for e in errors) and any("<div>" in e for e in errors)
    assert db.execute("SELECT count(*) AS n FROM telegram_drip_steps").fetchone()["n"] == 0
    form.update({"delay-2": "24h", "text-2": "Day <i>two</i>"})
    assert admin.post(path, data=form).status_code == 302
    steps = db.execute("SELECT position, delay_seconds, text_html, buttons FROM telegram_drip_steps ORDER BY position"
                       ).fetchall()
    assert [(s["position"], s["delay_seconds"]) for s in steps] == [(1, 0), (2, 86400)]
    page = html(admin.get(path))
    assert page.select_one("textarea[name=text-2]").text == "Day <i>two</i>"
    assert page.select_one("input[name=delay-2]")["value"] == "1d"
    assert admin.get(screen(space) + "channels/-1009999999999/drip").status_code == 404
    assert admin.get(screen(space) + "channels/abc/drip").status_code == 404


def test_an_operator_approves_a_request_left_for_a_human(app, login, client, space, db, telegram, clock):
    bot = connect_bot(app, telegram, space)
    add_channel(app, space)
    cli(app, "telegram", "channel", "approve", space["slug"], str(CHANNEL_ID), "off")
    post_update(client, bot, join_request_update(1, 3131, int(clock.now.timestamp()), None))
    run_worker(app)
    operator = login("operator")
    page = html(operator.get(screen(space)))
    assert "3131" in page.select_one("#waiting-requests").text
    assert "3131" in page.select_one("#unattributed-requests").text
    form = page.select_one("#waiting-requests form")
    assert operator.post(form["action"], data={"csrf_token": csrf_of(operator, space["slug"])}).status_code == 302
    run_worker(app)
    assert telegram.approvals[0]["user_id"] == 3131
    assert html(operator.get(screen(space))).select_one("#no-waiting")


def test_it_checks_ownership(app, login, space, other_space, telegram, db):
    connect_bot(app, telegram, space)
    add_channel(app, space)
    outsider = login("admin", in_space=other_space)
    token = csrf_of(outsider, other_space["slug"])
    for method, path in (("GET", ""), ("GET", "webhook-health"), ("POST", "bot"), ("POST", "channels"),
                         ("POST", f"channels/{CHANNEL_ID}/approve"), ("GET", f"channels/{CHANNEL_ID}/drip"),
                         ("POST", f"channels/{CHANNEL_ID}/drip"), ("POST", "requests/1/approve"),
                         ("POST", "bot/disconnect")):
        response = outsider.open(screen(space) + path, method=method,
                                 data={"csrf_token": token, "bot_token": BOT_TOKEN, "chat": str(CHANNEL_ID)})
        assert response.status_code == 404, (method, path)
    # Bob's own screen shows none of Alice's bot or channels.
    page = html(outsider.get(screen(other_space)))
    assert page.select_one("#no-bot") and not page.select_one("#channels")
    assert db.execute("SELECT count(*) AS n FROM telegram_bots").fetchone()["n"] == 1
