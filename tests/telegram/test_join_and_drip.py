"""Join requests, the approve switch, the welcome drip at Telegram's pace, blocked users, joins and leaves."""
from datetime import timedelta

from app import db as app_db
from app.telegram import store
from tests.telegram.conftest import add_channel, cli, connect_bot, post_update, run_worker
from tests.telegram.fake_bot_api import CHANNEL_ID, chat_member_update, join_request_update, my_chat_member_update
from tests.telegram.test_channel_funnel import landing_invite


def set_drip(app, steps: list[dict]) -> None:
    with app.app_context():
        with app_db.transaction() as conn:
            store.replace_drip_steps(conn, 1, CHANNEL_ID, steps, app.config["CLOCK"]())


def funnel(app, client, space, telegram):
    bot = connect_bot(app, telegram, space)
    add_channel(app, space)
    code, out = cli(app, "link", "create", space["slug"], "--slug", "signals", "--kind", "channel",
                    "--target", str(CHANNEL_ID))
    assert code == 0, out
    return bot


def click_and_request(app, client, bot, telegram, clock, update_id: int, user_id: int) -> dict:
    url = landing_invite(app.test_client(), "signals")
    invite = next(i for i in telegram.invites if i["invite_link"] == url)
    assert post_update(client, bot, join_request_update(update_id, user_id, int(clock.now.timestamp()),
                                                        invite)).status_code == 200
    return invite


def test_the_welcome_goes_first_then_the_approval_and_later_steps_when_due(app, client, space, db, telegram, clock):
    bot = funnel(app, client, space, telegram)
    set_drip(app, [{"delay_seconds": 0, "text_html": "<b>Welcome!</b>",
                    "buttons": [{"text": "Open the bot", "url": "https://t.me/funnel_test_bot?start=w"}]},
                   {"delay_seconds": 3600, "text_html": "Day one tip", "buttons": []}])
    click_and_request(app, client, bot, telegram, clock, 1, 4242)
    run_worker(app)
    (welcome,) = telegram.messages
    assert welcome["chat_id"] == 4242 and welcome["parse_mode"] == "HTML" and welcome["text"] == "<b>Welcome!</b>"
    assert welcome["reply_markup"] == {"inline_keyboard": [[{"text": "Open the bot",
                                                             "url": "https://t.me/funnel_test_bot?start=w"}]]}
    (approval,) = telegram.approvals
    assert welcome["at"] <= approval["at"]
    clock.advance(hours=1, seconds=1)
    run_worker(app)
    assert [m["text"] for m in telegram.messages] == ["<b>Welcome!</b>", "Day one tip"]
    uid = db.execute("SELECT uid FROM telegram_join_requests").fetchone()["uid"]
    code, journey = cli(app, "journey", "show", space["slug"], "--", uid)
    assert [(m["step"], m["state"]) for m in journey["telegram"]["messages"]] == [(1, "sent"), (2, "sent")]


def test_a_user_who_blocked_the_bot_gets_no_more_messages(app, client, space, db, telegram, clock):
    bot = funnel(app, client, space, telegram)
    set_drip(app, [{"delay_seconds": 0, "text_html": "Welcome", "buttons": []},
                   {"delay_seconds": 60, "text_html": "Later", "buttons": []},
                   {"delay_seconds": 120, "text_html": "Even later", "buttons": []}])
    telegram.blocked.add(5151)
    click_and_request(app, client, bot, telegram, clock, 1, 5151)
    run_worker(app)
    assert telegram.messages == [] and len(telegram.approvals) == 1  # approval does not wait on a blocked user
    states = db.execute("SELECT position, state, error FROM telegram_messages ORDER BY position").fetchall()
    assert [s["state"] for s in states] == ["stopped", "stopped", "stopped"]
    assert "blocked" in states[0]["error"]
    clock.advance(minutes=5)
    run_worker(app)
    assert len(telegram.called("sendMessage")) == 1


def test_a_429_on_send_pauses_the_bot_for_retry_after(app, client, space, db, telegram, clock):
    bot = funnel(app, client, space, telegram)
    set_drip(app, [{"delay_seconds": 0, "text_html": "Welcome", "buttons": []}])
    telegram.fail_next("sendMessage", 429, "Too Many Requests", retry_after=7)
    click_and_request(app, client, bot, telegram, clock, 1, 6161)
    run_worker(app)
    assert telegram.messages == [] and telegram.approvals == []  # the welcome is owed first
    row = db.execute("SELECT state, due_at FROM telegram_messages").fetchone()
    assert row["state"] == "due" and row["due_at"] == clock.now + timedelta(seconds=7)
    assert db.execute("SELECT send_paused_until FROM telegram_bots").fetchone()["send_paused_until"] == \
        clock.now + timedelta(seconds=7)
    clock.advance(seconds=8)
    run_worker(app)
    assert [m["text"] for m in telegram.messages] == ["Welcome"] and len(telegram.approvals) == 1


def test_messages_to_one_chat_keep_a_second_apart(app, client, space, db, telegram, clock):
    bot = funnel(app, client, space, telegram)
    set_drip(app, [{"delay_seconds": 0, "text_html": f"Step {n}", "buttons": []} for n in range(1, 4)])
    click_and_request(app, client, bot, telegram, clock, 1, 7171)
    run_worker(app)
    clock.advance(seconds=5)  # steps 2 and 3 are both due now: the sender still spaces them
    run_worker(app)
    times = [m["at"] for m in telegram.messages]
    assert len(times) == 3
    assert all(b - a >= 0.95 for a, b in zip(times, times[1:]))


def test_the_switch_off_leaves_requests_for_a_human_and_unattributed_ones_are_recorded(app, client, space, db,
                                                                                       telegram, clock):
    bot = funnel(app, client, space, telegram)
    code, out = cli(app, "telegram", "channel", "approve", space["slug"], str(CHANNEL_ID), "off")
    assert code == 0 and out["auto_approve"] is False
    click_and_request(app, client, bot, telegram, clock, 1, 8181)
    post_update(client, bot, join_request_update(2, 9191, int(clock.now.timestamp()), None))
    foreign = {"invite_link": "https://t.me/+someoneElse…", "name": "partner"}
    post_update(client, bot, join_request_update(3, 9292, int(clock.now.timestamp()), foreign))
    run_worker(app)
    assert telegram.approvals == []
    rows = db.execute("SELECT user_id, attribution, decision FROM telegram_join_requests ORDER BY user_id").fetchall()
    assert [(r["user_id"], r["attribution"], r["decision"]) for r in rows] == [
        (8181, "click", "manual"), (9191, "none", "manual"), (9292, "none", "manual")]
    assert db.execute("SELECT count(*) AS n FROM events WHERE source = 'telegram'").fetchone()["n"] == 1


def test_joins_and_leaves_are_membership_facts_attributed_to_link_and_uid(app, client, space, db, telegram, clock):
    bot = funnel(app, client, space, telegram)
    invite = click_and_request(app, client, bot, telegram, clock, 1, 1111)
    run_worker(app)
    date = int(clock.now.timestamp())
    post_update(client, bot, chat_member_update(2, 1111, date + 5, "left", "member", invite))
    post_update(client, bot, chat_member_update(3, 2222, date + 6, "left", "member"))
    post_update(client, bot, chat_member_update(4, 1111, date + 3 * 86400, "member", "left"))
    post_update(client, bot, chat_member_update(4, 1111, date + 3 * 86400, "member", "left"))  # re-delivered
    run_worker(app)
    events = db.execute("SELECT user_id, kind, uid IS NOT NULL AS attributed, link_id IS NOT NULL AS linked"
                        " FROM telegram_member_events ORDER BY id").fetchall()
    assert [(e["user_id"], e["kind"], e["attributed"], e["linked"]) for e in events] == [
        (1111, "join", True, True), (2222, "join", False, False), (1111, "leave", True, True)]
    assert db.execute("SELECT count(*) AS n FROM events WHERE event NOT IN ('contact', 'subscribed')"
                      ).fetchone()["n"] == 0  # a leave is never a canonical event
    code, status = cli(app, "telegram", "status", space["slug"])
    by_link = {row["link_slug"]: row for row in status["links"]}
    assert by_link["signals"]["joins"] == 1 and by_link["signals"]["leaves"] == 1
    assert by_link["signals"]["net"] == 0 and by_link["signals"]["left_within"] == 1
    assert by_link[None]["joins"] == 1 and by_link[None]["net"] == 1
    uid = db.execute("SELECT uid FROM telegram_join_requests").fetchone()["uid"]
    code, journey = cli(app, "journey", "show", space["slug"], "--", uid)
    assert [m["kind"] for m in journey["telegram"]["membership"]] == ["join", "leave"]


def test_a_bot_removed_from_the_channel_shows_as_disconnected(app, client, space, db, telegram, clock):
    bot = funnel(app, client, space, telegram)
    post_update(client, bot, my_chat_member_update(1, int(clock.now.timestamp()), "left"))
    run_worker(app)
    code, status = cli(app, "telegram", "status", space["slug"])
    (channel,) = status["channels"]
    assert channel["connected"] is False and channel["status_note"] == "the bot was removed from the channel"
    # Visitors still reach the channel (its shared link), but no per-click link is handed out.
    before = db.execute("SELECT count(*) AS n FROM telegram_invites WHERE state = 'handed'").fetchone()["n"]
    landing_invite(app.test_client(), "signals")
    assert db.execute("SELECT count(*) AS n FROM telegram_invites WHERE state = 'handed'").fetchone()["n"] == before
    post_update(client, bot, my_chat_member_update(2, int(clock.now.timestamp()), "administrator", can_invite=True))
    run_worker(app)
    code, status = cli(app, "telegram", "status", space["slug"])
    assert status["channels"][0]["connected"] is True
