"""Join requests, membership facts and drip messages are forgotten after TELEGRAM_HISTORY_DAYS; what is still owed stays."""
from app.telegram import store
from jobs import telegram as jobs
from tests.telegram.conftest import cli, post_update, run_worker
from tests.telegram.fake_bot_api import CHANNEL_ID, chat_member_update, join_request_update
from tests.telegram.test_join_and_drip import click_and_request, funnel, set_drip


def counts(db) -> dict:
    return {table: db.execute(f"SELECT count(*) AS n FROM {table}").fetchone()["n"]
            for table in ("telegram_join_requests", "telegram_member_events", "telegram_messages",
                          "telegram_members", "telegram_channel_stats")}


def test_the_log_older_than_the_setting_goes_and_the_rest_stays(app, client, space, db, telegram, clock):
    assert app.config["TELEGRAM_HISTORY_DAYS"] == 365
    bot = funnel(app, client, space, telegram)
    set_drip(app, [{"delay_seconds": 0, "text_html": "Welcome", "buttons": []}])
    click_and_request(app, client, bot, telegram, clock, 1, 1111)  # approved, welcome sent
    post_update(client, bot, chat_member_update(2, 1111, int(clock.now.timestamp()), "left", "member"))
    run_worker(app)
    cli(app, "telegram", "channel", "approve", space["slug"], str(CHANNEL_ID), "off")
    post_update(client, bot, join_request_update(3, 2222, int(clock.now.timestamp()), None))  # left for a human
    run_worker(app)
    with app.app_context():
        jobs.collect_channel_stats()
    before = counts(db)
    assert before["telegram_join_requests"] == 2 and before["telegram_member_events"] == 1
    assert before["telegram_messages"] == 2 and before["telegram_channel_stats"] >= 1

    clock.advance(days=364)
    with app.app_context():
        assert jobs.purge_old_history() == 0  # not old enough yet
    clock.advance(days=2)
    cli(app, "telegram", "channel", "approve", space["slug"], str(CHANNEL_ID), "on")
    click_and_request(app, client, bot, telegram, clock, 4, 3333)  # a fresh one
    run_worker(app)
    with app.app_context():
        gone = jobs.purge_old_history()
    assert gone == 4  # the old approved request, both old welcomes (sent), the old join
    after = counts(db)
    rows = db.execute("SELECT user_id, decision FROM telegram_join_requests ORDER BY user_id").fetchall()
    assert [(r["user_id"], r["decision"]) for r in rows] == [(2222, "manual"), (3333, "approved")]
    assert after["telegram_member_events"] == 0
    assert [r["user_id"] for r in db.execute("SELECT user_id FROM telegram_messages ORDER BY user_id")] == [3333]
    assert after["telegram_members"] == before["telegram_members"] == 1  # who is a member now stays
    assert after["telegram_channel_stats"] == before["telegram_channel_stats"]


def test_an_old_request_with_a_message_still_due_is_kept(app, client, space, db, telegram, clock):
    bot = funnel(app, client, space, telegram)
    set_drip(app, [{"delay_seconds": 0, "text_html": "Welcome", "buttons": []}])
    telegram.fail_next("sendMessage", 429, "Too Many Requests", retry_after=400 * 86400)
    click_and_request(app, client, bot, telegram, clock, 1, 4444)
    run_worker(app)
    with app.app_context():
        from app import db as app_db
        with app_db.transaction() as conn:  # the approval gave up; the welcome is still owed
            conn.execute("UPDATE telegram_join_requests SET decision = 'failed'")
    clock.advance(days=380)
    with app.app_context():
        assert jobs.purge_old_history() == 0
        with app_db.connection() as conn:
            assert store.purge_history(conn, clock.now) == {"messages": 0, "join_requests": 0, "member_events": 0}
    assert db.execute("SELECT state FROM telegram_messages").fetchone()["state"] == "due"


def test_a_history_shorter_than_a_week_is_refused_at_start_up():
    import pytest
    from app import config
    from tests.test_config import GOOD
    with pytest.raises(config.ConfigError, match="TELEGRAM_HISTORY_DAYS='3' is invalid"):
        config.load({**GOOD, "TELEGRAM_HISTORY_DAYS": "3"})
