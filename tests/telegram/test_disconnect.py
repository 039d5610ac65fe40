"""Disconnecting the space's bot: deleteWebhook, the token forgotten, the history kept; once per form; tenancy."""
from tests.dashboard.conftest import csrf_of, html, login  # noqa: F401
from tests.telegram.conftest import add_channel, cli, connect_bot, post_update, run_worker
from tests.telegram.fake_bot_api import BOT_ID, CHANNEL_ID, chat_member_update, join_request_update
from tests.telegram.test_join_and_drip import click_and_request, funnel, set_drip


def screen(space) -> str:
    return f"/spaces/{space['slug']}/telegram/"


def test_disconnect_deletes_the_webhook_forgets_the_token_and_keeps_the_history(app, client, space, db, telegram,
                                                                               clock):
    bot = funnel(app, client, space, telegram)
    set_drip(app, [{"delay_seconds": 0, "text_html": "Welcome", "buttons": []},
                   {"delay_seconds": 3600, "text_html": "Later", "buttons": []}])
    click_and_request(app, client, bot, telegram, clock, 1, 1111)
    post_update(client, bot, chat_member_update(2, 1111, int(clock.now.timestamp()), "left", "member"))
    run_worker(app)
    cli(app, "telegram", "channel", "approve", space["slug"], str(CHANNEL_ID), "off")
    post_update(client, bot, join_request_update(3, 2222, int(clock.now.timestamp()), None))
    run_worker(app)
    db.execute("UPDATE telegram_join_requests SET decision = 'due', next_try_at = now() + interval '1 hour'"
               " WHERE user_id = 2222")
    assert str(BOT_ID) in telegram.webhooks

    code, out = cli(app, "telegram", "disconnect", space["slug"])
    assert code == 0, out
    assert out["bot"] == "funnel_test_bot" and out["webhook_error"] is None
    assert out["messages_stopped"] == 2 and out["requests_left_for_a_human"] == 1  # 1111's and 2222's later step
    assert len(telegram.called("deleteWebhook")) == 1 and str(BOT_ID) not in telegram.webhooks
    assert db.execute("SELECT count(*) AS n FROM telegram_bots").fetchone()["n"] == 0  # sealed token gone
    # Telegram (or anyone) posting to the old hook with the old secret is refused, nothing recorded.
    assert post_update(client, bot, join_request_update(4, 3333, int(clock.now.timestamp()), None)).status_code == 401
    assert db.execute("SELECT count(*) AS n FROM telegram_updates WHERE update_id = 4").fetchone()["n"] == 0
    # History stays: join requests, joins, sent messages.
    assert db.execute("SELECT count(*) AS n FROM telegram_join_requests").fetchone()["n"] == 2
    assert db.execute("SELECT count(*) AS n FROM telegram_member_events").fetchone()["n"] == 1
    assert db.execute("SELECT count(*) AS n FROM telegram_messages WHERE state = 'sent'").fetchone()["n"] == 2
    code, status = cli(app, "telegram", "status", space["slug"])
    assert status["bot"] is None
    (channel,) = status["channels"]
    assert channel["connected"] is False and "disconnected" in channel["status_note"]
    clock.advance(hours=2)
    run_worker(app)
    assert len(telegram.called("sendMessage")) == 2 and len(telegram.approvals) == 1  # nothing more goes out
    code, again = cli(app, "telegram", "disconnect", space["slug"])
    assert code == 1 and again["ok"] is False and "no bot" in again["error"]
    # Connecting again works, and adding the channel again reconnects it.
    connect_bot(app, telegram, space)
    add_channel(app, space)
    code, status = cli(app, "telegram", "status", space["slug"])
    assert status["bot"]["bot"] == "funnel_test_bot" and status["channels"][0]["connected"] is True


def test_a_refused_delete_webhook_still_forgets_the_token_and_says_so(app, space, db, telegram):
    connect_bot(app, telegram, space)
    telegram.fail_next("deleteWebhook", 500, "Internal Server Error")
    code, out = cli(app, "telegram", "disconnect", space["slug"])
    assert code == 0 and out["webhook_error"] == "deleteWebhook failed: Internal Server Error"
    assert db.execute("SELECT count(*) AS n FROM telegram_bots").fetchone()["n"] == 0


def test_an_admin_disconnects_from_the_screen_once_per_form(app, login, space, db, telegram):
    connect_bot(app, telegram, space)
    add_channel(app, space)
    admin = login("admin")
    page = html(admin.get(screen(space)))
    form = page.select_one("#disconnect-bot")
    assert "token is forgotten" in form["data-confirm"]
    data = {i["name"]: i["value"] for i in form.select("input[type=hidden]")}
    response = admin.post(form["action"], data=data)
    assert response.status_code == 302
    page = html(admin.get(response.headers["Location"]))
    assert page.select_one("#notice").text.startswith("Bot disconnected") and page.select_one("#no-bot")
    assert not page.select_one("#disconnect-bot")
    connect_bot(app, telegram, space)  # connected again meanwhile: a resent form must not disconnect it
    repeated = admin.post(form["action"], data=data)
    assert repeated.status_code == 303
    assert db.execute("SELECT count(*) AS n FROM telegram_bots").fetchone()["n"] == 1
    assert len(telegram.called("deleteWebhook")) == 1
    fresh = {"csrf_token": csrf_of(admin, space["slug"])}
    assert admin.post(form["action"], data=fresh).status_code == 302
    assert admin.post(form["action"], data=fresh).status_code == 404  # no bot left to disconnect


def test_only_an_admin_of_the_space_may_disconnect(app, login, space, other_space, db, telegram):
    connect_bot(app, telegram, space)
    for role in ("viewer", "operator"):
        member = login(role)
        assert not html(member.get(screen(space))).select_one("#disconnect-bot")
        assert member.post(screen(space) + "bot/disconnect",
                           data={"csrf_token": csrf_of(member, space["slug"])}).status_code == 403
    outsider = login("admin", in_space=other_space)
    token = csrf_of(outsider, other_space["slug"])
    assert outsider.post(screen(space) + "bot/disconnect", data={"csrf_token": token}).status_code == 404
    assert outsider.post(screen(other_space) + "bot/disconnect", data={"csrf_token": token}).status_code == 404
    code, out = cli(app, "telegram", "disconnect", other_space["slug"])
    assert code == 1 and out["ok"] is False
    assert db.execute("SELECT count(*) AS n FROM telegram_bots").fetchone()["n"] == 1
    assert telegram.called("deleteWebhook") == []
