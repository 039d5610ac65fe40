"""What people send the bot in private: /start (with and without a deep-link uid) and /stop."""
from datetime import timedelta

from tests.conftest import bearer
from tests.telegram.conftest import cli, post_update, run_worker
from tests.telegram.fake_bot_api import (join_request_update, my_chat_member_update_private,
                                         private_message_update)
from tests.telegram.test_join_and_drip import click_and_request, funnel, set_drip

THREE_STEPS = [{"delay_seconds": 0, "text_html": "Welcome", "buttons": []},
               {"delay_seconds": 3600, "text_html": "Hour one", "buttons": []},
               {"delay_seconds": 7200, "text_html": "Hour two", "buttons": []}]


def states(db) -> list[tuple]:
    return [(r["position"], r["state"]) for r in
            db.execute("SELECT position, state FROM telegram_messages ORDER BY position").fetchall()]


def test_stop_stops_the_drip_and_start_resumes_it_from_now(app, client, space, db, telegram, clock):
    bot = funnel(app, client, space, telegram)
    set_drip(app, THREE_STEPS)
    click_and_request(app, client, bot, telegram, clock, 1, 4242)
    run_worker(app)
    assert [m["text"] for m in telegram.messages] == ["Welcome"]
    post_update(client, bot, private_message_update(2, 4242, int(clock.now.timestamp()), "/stop"))
    run_worker(app)
    assert states(db) == [(1, "sent"), (2, "stopped"), (3, "stopped")]
    clock.advance(hours=5)
    run_worker(app)
    assert [m["text"] for m in telegram.messages] == ["Welcome"]  # nothing while stopped
    post_update(client, bot, private_message_update(3, 4242, int(clock.now.timestamp()), "/start"))
    run_worker(app)
    # The next step goes at once; the one after keeps its planned hour's distance.
    assert [m["text"] for m in telegram.messages] == ["Welcome", "Hour one"]
    assert telegram.messages[-1]["chat_id"] == 4242
    due = db.execute("SELECT due_at FROM telegram_messages WHERE position = 3").fetchone()["due_at"]
    assert due == clock.now + timedelta(hours=1)
    clock.advance(hours=1)
    run_worker(app)
    assert [m["text"] for m in telegram.messages] == ["Welcome", "Hour one", "Hour two"]


def test_a_stop_from_someone_else_stops_nothing_and_a_group_message_is_ignored(app, client, space, db, telegram,
                                                                              clock):
    bot = funnel(app, client, space, telegram)
    set_drip(app, THREE_STEPS)
    click_and_request(app, client, bot, telegram, clock, 1, 4242)
    run_worker(app)
    post_update(client, bot, private_message_update(2, 5353, int(clock.now.timestamp()), "/stop"))
    group = private_message_update(3, 4242, int(clock.now.timestamp()), "/stop")
    group["message"]["chat"] = {"id": -100555, "type": "supergroup", "title": "chat"}
    post_update(client, bot, group)
    post_update(client, bot, private_message_update(4, 4242, int(clock.now.timestamp()), "stop please"))
    run_worker(app)
    assert states(db) == [(1, "sent"), (2, "due"), (3, "due")]
    assert db.execute("SELECT count(*) AS n FROM telegram_updates WHERE state = 'done'").fetchone()["n"] == 4


def test_start_restarts_the_drip_of_someone_who_had_blocked_the_bot(app, client, space, db, telegram, clock):
    bot = funnel(app, client, space, telegram)
    set_drip(app, THREE_STEPS)
    telegram.blocked.add(6161)
    click_and_request(app, client, bot, telegram, clock, 1, 6161)
    run_worker(app)
    assert states(db) == [(1, "stopped"), (2, "stopped"), (3, "stopped")]
    telegram.blocked.discard(6161)
    clock.advance(minutes=30)
    post_update(client, bot, private_message_update(2, 6161, int(clock.now.timestamp()), "/start"))
    run_worker(app)
    assert [m["text"] for m in telegram.messages] == ["Welcome"]
    assert states(db) == [(1, "sent"), (2, "due"), (3, "due")]


def test_blocking_the_bot_stops_the_drip_before_a_message_fails(app, client, space, db, telegram, clock):
    bot = funnel(app, client, space, telegram)
    set_drip(app, THREE_STEPS)
    click_and_request(app, client, bot, telegram, clock, 1, 7171)
    run_worker(app)
    post_update(client, bot, my_chat_member_update_private(2, 7171, int(clock.now.timestamp()), "kicked"))
    run_worker(app)
    assert states(db) == [(1, "sent"), (2, "stopped"), (3, "stopped")]
    assert db.execute("SELECT error FROM telegram_messages WHERE position = 2").fetchone()["error"] == \
        "stopped: the person blocked the bot"
    code, status = cli(app, "telegram", "status", space["slug"])
    assert status["channels"][0]["connected"] is True  # a private chat is not a channel


def test_start_begins_the_drip_for_a_known_person_who_never_got_one(app, client, space, db, telegram, clock):
    bot = funnel(app, client, space, telegram)
    click_and_request(app, client, bot, telegram, clock, 1, 8181)  # no drip yet when they asked to join
    run_worker(app)
    assert db.execute("SELECT count(*) AS n FROM telegram_messages").fetchone()["n"] == 0
    set_drip(app, THREE_STEPS)
    clock.advance(days=1)
    post_update(client, bot, private_message_update(2, 8181, int(clock.now.timestamp()), "/start"))
    post_update(client, bot, private_message_update(3, 9999, int(clock.now.timestamp()), "/start"))  # a stranger
    run_worker(app)
    assert [(m["chat_id"], m["text"]) for m in telegram.messages] == [(8181, "Welcome")]
    uid = db.execute("SELECT uid FROM telegram_join_requests").fetchone()["uid"]
    assert db.execute("SELECT count(*) AS n FROM telegram_messages WHERE uid = %(uid)s",
                      {"uid": uid}).fetchone()["n"] == 3
    post_update(client, bot, private_message_update(4, 8181, int(clock.now.timestamp()), "/start"))
    run_worker(app)
    assert len(telegram.messages) == 1  # a second /start plans nothing twice


def test_start_with_a_deep_link_uid_binds_the_person_and_backfills(app, client, space, db, telegram, clock):
    bot = funnel(app, client, space, telegram)
    code, link = cli(app, "link", "create", space["slug"], "--slug", "botlink", "--kind", "bot",
                     "--target", "funnel_test_bot")
    assert code == 0, link
    response = app.test_client().get("/botlink", headers={"User-Agent": "Mozilla/5.0 (iPhone) Mobile"})
    uid = db.execute("SELECT uid FROM clicks WHERE link_slug = 'botlink'").fetchone()["uid"]
    assert f"start=fb_{uid}".encode() in response.data
    # The person's app reported an event by Telegram id before the bot learnt their uid.
    sent = client.post("/events", json={"event": "registration", "tg_id": 3131, "eid": "reg-1"}, headers=bearer(space))
    assert sent.status_code in (200, 202), sent.data
    post_update(client, bot, private_message_update(1, 3131, int(clock.now.timestamp()), f"/start fb_{uid}"))
    # Someone else opening the same deep link later does not take the uid (the first bind wins).
    post_update(client, bot, private_message_update(2, 3232, int(clock.now.timestamp()), f"/start@funnel_test_bot fb_{uid}"))
    post_update(client, bot, private_message_update(3, 3333, int(clock.now.timestamp()), "/start fb_bad!uid"))
    run_worker(app)
    assert db.execute("SELECT tg_id FROM journeys WHERE uid = %(uid)s", {"uid": uid}).fetchone()["tg_id"] == 3131
    assert db.execute("SELECT count(*) AS n FROM journeys WHERE tg_id = 3333").fetchone()["n"] == 0
    assert db.execute("SELECT count(*) AS n FROM telegram_updates WHERE state = 'done'").fetchone()["n"] == 3
    code, journey = cli(app, "journey", "show", space["slug"], "--", uid)
    assert journey["binding"]["tg_id"] == 3131
    assert "registration" in [e["event"] for e in journey["events"]]  # back-filled onto the uid
