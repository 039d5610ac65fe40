"""telegram connect / channel add / status: tokens, rights checks with clear errors, the sealed token, health."""
from tests.telegram.conftest import POOL_SIZE, add_channel, cli, connect_bot
from tests.telegram.fake_bot_api import BOT_ID, BOT_TOKEN, CHANNEL_ID


def test_connect_stores_the_token_sealed_and_registers_the_webhook(app, space, db, telegram):
    bot = connect_bot(app, telegram, space)
    assert set(bot) >= {"bot", "bot_id", "webhook_url"} and bot["bot_id"] == BOT_ID
    hook = telegram.webhooks[str(BOT_ID)]
    assert hook["url"] == bot["webhook_url"] and len(hook["secret_token"]) >= 32
    assert hook["allowed_updates"] == ["chat_join_request", "chat_member", "my_chat_member", "message"]
    row = db.execute("SELECT token_sealed, secret_token_hash, token_hint FROM telegram_bots").fetchone()
    assert BOT_TOKEN.encode() not in bytes(row["token_sealed"]) and BOT_TOKEN[-4:] in row["token_hint"]
    assert hook["secret_token"].encode() not in bytes(row["secret_token_hash"])
    code, status = cli(app, "telegram", "status", space["slug"])
    assert code == 0 and BOT_TOKEN not in str(status) and hook["secret_token"] not in str(status)
    assert status["bot"]["bot"] == "funnel_test_bot" and status["bot"]["telegram_webhook"]["url_matches"] is True


def test_connect_refuses_bad_and_revoked_tokens(app, space, telegram, db):
    code, out = cli(app, "telegram", "connect", space["slug"], "--bot-token-stdin", input="not-a-token\n")
    assert code == 1 and "not a bot token" in out["error"]
    code, out = cli(app, "telegram", "connect", space["slug"], "--bot-token-stdin",
                    input="123456:AAH" + "z" * 32 + "\n")
    assert code == 1 and "refused this bot token" in out["error"]
    assert db.execute("SELECT count(*) AS n FROM telegram_bots").fetchone()["n"] == 0


def test_connect_reports_a_webhook_telegram_refused(app, space, telegram):
    telegram.fail_next("setWebhook", 400, "Bad Request: bad webhook: HTTPS url must be provided for webhook")
    code, out = cli(app, "telegram", "connect", space["slug"], "--bot-token-stdin", input=BOT_TOKEN + "\n")
    assert code == 1 and out["ok"] is False and "HTTPS url must be provided" in out["webhook_error"]
    code, status = cli(app, "telegram", "status", space["slug"])
    assert "HTTPS url must be provided" in status["bot"]["webhook_error"]


def test_channel_add_checks_the_bots_admin_and_invite_rights(app, space, telegram, db):
    code, out = cli(app, "telegram", "channel", "add", space["slug"], str(CHANNEL_ID))
    assert code == 1 and "connect a bot first" in out["error"]
    connect_bot(app, telegram, space)
    code, out = cli(app, "telegram", "channel", "add", space["slug"], "-1009999999999")
    assert code == 1 and "add the bot to the channel as an administrator" in out["error"]
    telegram.members[(CHANNEL_ID, BOT_ID)] = {"status": "member", "user": {"id": BOT_ID}}
    code, out = cli(app, "telegram", "channel", "add", space["slug"], str(CHANNEL_ID))
    assert code == 1 and "is not an administrator" in out["error"]
    telegram.members[(CHANNEL_ID, BOT_ID)] = {"status": "administrator", "can_invite_users": False,
                                              "user": {"id": BOT_ID}}
    code, out = cli(app, "telegram", "channel", "add", space["slug"], str(CHANNEL_ID))
    assert code == 1 and "Invite users via link" in out["error"]
    code, out = cli(app, "telegram", "channel", "add", space["slug"], "not a chat!")
    assert code == 1 and "not a chat id" in out["error"]
    assert db.execute("SELECT count(*) AS n FROM telegram_channels").fetchone()["n"] == 0
    telegram.members[(CHANNEL_ID, BOT_ID)]["can_invite_users"] = True
    out = add_channel(app, space)
    assert out["chat_id"] == CHANNEL_ID and out["title"] == "Signals Channel" and out["pool"]["ready"] == POOL_SIZE


def test_channel_add_takes_a_public_username(app, space, telegram):
    telegram.chats[CHANNEL_ID]["username"] = "signals_pub"
    connect_bot(app, telegram, space)
    out = add_channel(app, space, "@signals_pub")
    assert out["chat_id"] == CHANNEL_ID and out["username"] == "signals_pub"


def test_a_channel_link_must_name_a_connected_channel_of_its_own_space(app, space, other_space, telegram):
    code, out = cli(app, "link", "create", space["slug"], "--slug", "chan", "--kind", "channel",
                    "--target", str(CHANNEL_ID))
    assert code == 1 and "not connected to this space" in out["error"]
    connect_bot(app, telegram, space)
    add_channel(app, space)
    code, out = cli(app, "link", "create", other_space["slug"], "--slug", "chan", "--kind", "channel",
                    "--target", str(CHANNEL_ID))
    assert code == 1 and "not connected to this space" in out["error"]
    code, out = cli(app, "link", "create", space["slug"], "--slug", "chan", "--kind", "channel",
                    "--target", str(CHANNEL_ID))
    assert code == 0 and out["target"] == str(CHANNEL_ID)
    # A public t.me channel still works as before, unattributed.
    code, out = cli(app, "link", "create", other_space["slug"], "--slug", "pub", "--kind", "channel",
                    "--target", "@some_public")
    assert code == 0 and out["target"] == "https://t.me/some_public"


def test_replacing_the_bot_asks_for_each_channel_again(app, space, telegram):
    connect_bot(app, telegram, space)
    add_channel(app, space)
    other = "7000000009:AAH" + "q" * 32
    telegram.bots[other] = {"id": 7000000009, "is_bot": True, "first_name": "New", "username": "new_funnel_bot"}
    code, out = cli(app, "telegram", "connect", space["slug"], "--bot-token-stdin", input=other + "\n")
    assert code == 0 and out["bot"] == "new_funnel_bot"
    code, status = cli(app, "telegram", "status", space["slug"])
    assert status["channels"][0]["connected"] is False and "replaced" in status["channels"][0]["status_note"]


def test_the_scheduler_runs_every_telegram_task():
    from jobs import scheduler, telegram as jobs
    intervals = {task: interval for _, interval, task in scheduler.PERIODIC}
    assert intervals[jobs.sweep_telegram] <= 5
    assert intervals[jobs.top_up_invite_pools] <= 10
    for task in (jobs.revoke_unused_invites, jobs.collect_channel_stats, jobs.purge_processed_updates,
                 jobs.purge_old_history):
        assert intervals[task] <= 3600
