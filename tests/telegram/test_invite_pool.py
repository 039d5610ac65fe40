"""The per-click invite pool: top-up at Telegram's pace, one link per click, the shared fallback, revocation."""
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
from bs4 import BeautifulSoup

from app.telegram import pool
from tests.conftest import LiveServer
from tests.telegram.conftest import POOL_SIZE, add_channel, cli, connect_bot, post_update, run_worker
from tests.telegram.fake_bot_api import CHANNEL_ID, join_request_update
from tests.telegram.test_channel_funnel import BROWSER, landing_invite


def setup_channel_link(app, space, telegram, slug="signals") -> None:
    connect_bot(app, telegram, space)
    add_channel(app, space)
    code, out = cli(app, "link", "create", space["slug"], "--slug", slug, "--kind", "channel",
                    "--target", str(CHANNEL_ID))
    assert code == 0, out



def ready(db) -> int:
    return db.execute("SELECT count(*) AS n FROM telegram_invites WHERE state = 'ready'").fetchone()["n"]


def test_a_top_up_honours_429_retry_after(app, space, db, telegram, clock):
    connect_bot(app, telegram, space)
    telegram.fail_next("createChatInviteLink", 429, "Too Many Requests", retry_after=30, times=1)
    add_channel(app, space)
    assert ready(db) == 0
    channel = db.execute("SELECT pool_paused_until, pool_error FROM telegram_channels").fetchone()
    assert channel["pool_paused_until"] == clock.now + timedelta(seconds=30) and "429" in channel["pool_error"]
    calls = len(telegram.called("createChatInviteLink"))
    with app.app_context():
        pool.top_up_all(app)
    assert len(telegram.called("createChatInviteLink")) == calls  # still paused: Telegram is not asked
    clock.advance(seconds=31)
    with app.app_context():
        pool.top_up_all(app)
    assert ready(db) == POOL_SIZE
    assert db.execute("SELECT pool_error FROM telegram_channels").fetchone()["pool_error"] is None


def test_a_lost_invite_right_is_shown_on_the_pool(app, space, db, telegram):
    connect_bot(app, telegram, space)
    add_channel(app, space)
    telegram.fail_next("createChatInviteLink", 400, "Bad Request: not enough rights to manage chat invite links")
    db.execute("DELETE FROM telegram_invites")
    with app.app_context():
        pool.top_up_all(app)
    code, status = cli(app, "telegram", "status", space["slug"])
    assert "not enough rights" in status["channels"][0]["pool"]["error"]


def test_a_repeat_visit_gets_its_own_link_again_and_previews_claim_nothing(app, client, space, db, telegram):
    setup_channel_link(app, space, telegram)
    first = client.get("/signals", headers=BROWSER)
    url = BeautifulSoup(first.data, "html.parser").select_one("#open")["href"]
    cookie = first.headers["Set-Cookie"].split(";", 1)[0]
    again = client.get("/signals", headers={**BROWSER, "Cookie": cookie})
    assert BeautifulSoup(again.data, "html.parser").select_one("#open")["href"] == url
    preview = client.get("/signals", headers={"User-Agent": "TelegramBot (like TwitterBot)"})
    shared = db.execute("SELECT invite_link FROM telegram_invites WHERE kind = 'shared'").fetchone()["invite_link"]
    assert BeautifulSoup(preview.data, "html.parser").select_one("#open")["href"] == shared
    assert db.execute("SELECT count(*) AS n FROM telegram_invites WHERE state = 'handed' AND kind = 'click'"
                      ).fetchone()["n"] == 1
    assert db.execute("SELECT count(*) AS n FROM clicks").fetchone()["n"] == 1


def test_a_burst_of_2000_landings_never_hands_one_link_to_two_clicks(app, space, db, telegram, servers):
    app.config["TELEGRAM_POOL_SIZE"] = 300
    setup_channel_link(app, space, telegram)
    assert ready(db) == 300
    shared = db.execute("SELECT invite_link FROM telegram_invites WHERE kind = 'shared'").fetchone()["invite_link"]
    # The web processes are pointed at no Bot API at all: a landing never waits on Telegram.
    server = LiveServer(servers, env={"TELEGRAM_API_BASE_URL": "http://127.0.0.1:9", "CLICK_REUSE_MINUTES": "0"},
                        workers=2).start()
    try:
        with httpx.Client(timeout=30, limits=httpx.Limits(max_connections=32)) as http:
            def visit(_):
                page = http.get(f"{server.url}/signals", headers=BROWSER)
                assert page.status_code == 200
                return BeautifulSoup(page.text, "html.parser").select_one("#open")["href"]
            with ThreadPoolExecutor(32) as workers:
                urls = list(workers.map(visit, range(2000)))
    finally:
        server.stop()
    per_click = [u for u in urls if u != shared]
    assert len(per_click) == 300 and len(set(per_click)) == 300
    assert urls.count(shared) == 1700
    handed = db.execute("SELECT uid, invite_link FROM telegram_invites WHERE kind = 'click' AND state = 'handed'"
                        ).fetchall()
    assert {h["invite_link"] for h in handed} == set(per_click)
    clicks = db.execute("SELECT uid FROM clicks").fetchall()
    assert len(clicks) == 2000 and len({c["uid"] for c in clicks}) == 2000
    assert {h["uid"] for h in handed} <= {c["uid"] for c in clicks}
    channel = db.execute("SELECT exhausted_count FROM telegram_channels").fetchone()
    assert channel["exhausted_count"] == 1700
    code, status = cli(app, "telegram", "status", space["slug"])
    assert status["channels"][0]["pool"]["ready"] == 0 and status["channels"][0]["pool"]["exhausted_count"] == 1700


def test_a_join_through_the_shared_link_is_attributed_to_the_link(app, client, space, db, telegram, clock):
    app.config["TELEGRAM_POOL_SIZE"] = 1
    setup_channel_link(app, space, telegram)
    landing_invite(app.test_client(), "signals")
    shared_url = landing_invite(app.test_client(), "signals")
    shared = next(i for i in telegram.invites if i["invite_link"] == shared_url)
    assert shared["name"] == "xt-link signals"
    bot = {"secret_token": telegram.webhooks[next(iter(telegram.webhooks))]["secret_token"],
           "path": db.execute("SELECT webhook_url FROM telegram_bots").fetchone()["webhook_url"].split("/", 3)[3]}
    post_update(client, bot, join_request_update(1, 555, int(clock.now.timestamp()), shared))
    run_worker(app)
    request = db.execute("SELECT attribution, uid, link_id FROM telegram_join_requests").fetchone()
    assert request["attribution"] == "link" and request["uid"] is None and request["link_id"] is not None
    event = db.execute("SELECT event, uid, tg_id FROM events WHERE source = 'telegram'").fetchone()
    assert event == {"event": "subscribed", "uid": None, "tg_id": 555}


def test_links_handed_out_and_never_used_are_revoked_after_the_documented_time(app, client, space, db, telegram,
                                                                               clock):
    setup_channel_link(app, space, telegram)
    unused = landing_invite(client, "signals")
    with app.app_context():
        assert pool.revoke_unused(app) == 0
    clock.advance(hours=app.config["TELEGRAM_INVITE_UNUSED_HOURS"], seconds=1)
    with app.app_context():
        assert pool.revoke_unused(app) == 1
    assert telegram.revoked == [unused]
    row = db.execute("SELECT state, revoked_at FROM telegram_invites WHERE invite_link = %s", (unused,)).fetchone()
    assert row["state"] == "revoked" and row["revoked_at"] == clock.now
