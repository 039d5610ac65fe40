"""POST /telegram/webhook/<hook>: the secret token, deduplication by update_id, answers at once, durable queue."""
import json

from tests.conftest import make_space
from tests.telegram.conftest import add_channel, connect_bot, post_update, run_worker
from tests.telegram.fake_bot_api import BOT_TOKEN, join_request_update


def queued(db) -> list[dict]:
    return db.execute("SELECT space_id, update_id, kind, state FROM telegram_updates ORDER BY update_id").fetchall()


def test_it_refuses_a_missing_or_wrong_secret_token_and_records_nothing(app, client, space, db, telegram, clock):
    bot = connect_bot(app, telegram, space)
    update = join_request_update(1, 77, int(clock.now.timestamp()), None)
    for secret in (None, "", "wrong-" + bot["secret_token"], bot["secret_token"][:-1]):
        response = post_update(client, bot, update, secret=secret)
        assert response.status_code == 401
        assert response.json["status"] == "unauthorized"
        assert "X-Telegram-Bot-Api-Secret-Token" in response.json["error"]
    assert queued(db) == []
    unknown = client.post("/telegram/webhook/not-a-hook", data=json.dumps(update),
                          headers={"X-Telegram-Bot-Api-Secret-Token": bot["secret_token"]})
    assert unknown.status_code == 401 and queued(db) == []


def test_it_queues_an_update_once_however_often_telegram_redelivers_it(app, client, space, db, telegram, clock):
    bot = connect_bot(app, telegram, space)
    add_channel(app, space)
    update = join_request_update(5, 77, int(clock.now.timestamp()), None)
    answers = [post_update(client, bot, update) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [a.json["status"] for a in answers] == ["queued", "duplicate", "duplicate"]
    assert [(r["update_id"], r["kind"], r["state"]) for r in queued(db)] == [(5, "chat_join_request", "pending")]
    run_worker(app)
    assert [r["state"] for r in queued(db)] == ["done"]
    assert db.execute("SELECT count(*) AS n FROM telegram_join_requests").fetchone()["n"] == 1
    # Re-delivered after processing: still a duplicate, nothing done twice.
    assert post_update(client, bot, update).json["status"] == "duplicate"
    run_worker(app)
    assert len(telegram.approvals) == 1


def test_it_answers_bad_bodies_with_a_clear_400(app, client, space, db, telegram):
    bot = connect_bot(app, telegram, space)
    headers = {"X-Telegram-Bot-Api-Secret-Token": bot["secret_token"], "Content-Type": "application/json"}
    for body in (b"not json", b"[]", b'{"update_id": "7"}', b'{"message": {}}', b'{"update_id": -1}',
                 b'{"update_id": 9, "message": {"text": "a\\u0000b"}}', b'{"update_id": 10, "x": "\xff"}'):
        response = client.post("/" + bot["path"], data=body, headers=headers)
        assert response.status_code == 400, body
        assert response.json["ok"] is False
    assert queued(db) == []


def test_another_spaces_secret_does_not_open_this_spaces_webhook(app, client, space, db, telegram, clock):
    alice = connect_bot(app, telegram, space)
    other = make_space(app, "Bob Funnel")
    bob_token = "7000000002:AAH" + "y" * 32
    telegram.bots[bob_token] = {"id": 7000000002, "is_bot": True, "first_name": "Bob", "username": "bob_test_bot"}
    from tests.telegram.conftest import cli
    code, bob = cli(app, "telegram", "connect", other["slug"], "--bot-token-stdin", input=bob_token + "\n")
    assert code == 0, bob
    bob_secret = telegram.webhooks["7000000002"]["secret_token"]
    update = join_request_update(1, 77, int(clock.now.timestamp()), None)
    assert post_update(client, alice, update, secret=bob_secret).status_code == 401
    assert queued(db) == []
    # The same bot cannot be connected to a second space (it has one webhook).
    code, out = cli(app, "telegram", "connect", other["slug"], "--bot-token-stdin", input=BOT_TOKEN + "\n")
    assert code == 1 and "another space" in out["error"]


def test_an_update_that_fails_is_retried_then_set_aside_without_blocking_the_rest(app, client, space, db, telegram,
                                                                                  clock):
    bot = connect_bot(app, telegram, space)
    add_channel(app, space)
    post_update(client, bot, {"update_id": 1, "chat_join_request": {"chat": {"id": "x"}}})
    post_update(client, bot, join_request_update(2, 77, int(clock.now.timestamp()), None))
    run_worker(app)
    states = {r["update_id"]: r["state"] for r in queued(db)}
    assert states == {1: "failed", 2: "done"}
    assert db.execute("SELECT error FROM telegram_updates WHERE update_id = 1").fetchone()["error"]


def test_a_worker_that_dies_mid_update_loses_nothing(app, client, space, db, telegram, clock):
    bot = connect_bot(app, telegram, space)
    add_channel(app, space)
    post_update(client, bot, join_request_update(3, 77, int(clock.now.timestamp()), None))
    from app import db as app_db
    from app.telegram import store
    with app.app_context():
        with app_db.transaction() as conn:
            (claimed,) = store.claim_updates(conn, clock.now, clock.now.replace() + __import__("datetime").timedelta(seconds=60))
    # The claiming worker is gone; its lease runs out and the next worker applies the update.
    assert queued(db)[0]["state"] == "pending"
    clock.advance(seconds=61)
    run_worker(app)
    assert queued(db)[0]["state"] == "done"
    assert len(telegram.approvals) == 1


def test_updates_arriving_together_are_queued_together_and_each_once(app, client, space, db, telegram, clock):
    from concurrent.futures import ThreadPoolExecutor
    bot = connect_bot(app, telegram, space)
    add_channel(app, space)
    updates = [join_request_update(n % 40, 1000 + n % 40, int(clock.now.timestamp()), None) for n in range(120)]
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda u: post_update(app.test_client(), bot, u), updates))
    assert all(a.status_code == 200 for a in answers)
    assert sorted(a.json["status"] for a in answers).count("queued") == 40
    assert len(queued(db)) == 40
