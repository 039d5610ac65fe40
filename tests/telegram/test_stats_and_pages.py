"""Hourly channel stats, the deck's Telegram panel, the journey page's channel part and the funnel's subscribed stage."""
from datetime import timedelta

from app.telegram import stats
from tests.dashboard.conftest import html, login  # noqa: F401
from tests.telegram.conftest import add_channel, connect_bot, post_update, run_worker
from tests.telegram.fake_bot_api import CHANNEL_ID, chat_member_update
from tests.telegram.test_join_and_drip import click_and_request, funnel, set_drip


def test_the_hourly_job_stores_the_member_count_beside_our_log(app, client, space, db, telegram, clock):
    bot = funnel(app, client, space, telegram)
    click_and_request(app, client, bot, telegram, clock, 1, 4001)
    run_worker(app)
    date = int(clock.now.timestamp())
    post_update(client, bot, chat_member_update(2, 4001, date, "left", "member"))
    post_update(client, bot, chat_member_update(3, 4002, date, "left", "member"))
    post_update(client, bot, chat_member_update(4, 4002, date, "member", "kicked"))
    run_worker(app)
    telegram.member_count[CHANNEL_ID] = 1234
    with app.app_context():
        assert stats.collect(app) == 1
    row = db.execute("SELECT hour, member_count, join_requests, approvals, joins, leaves FROM telegram_channel_stats"
                     " WHERE hour = %s", (stats.hour_of(clock.now),)).fetchone()
    assert (row["member_count"], row["join_requests"], row["approvals"], row["joins"], row["leaves"]) == (1234, 1, 1, 2, 1)
    # Telegram away at the next run: our own counts are still written, the last known count stays.
    telegram.fail_next("getChatMemberCount", 500, "Internal Server Error")
    with app.app_context():
        assert stats.collect(app) == 0
    assert db.execute("SELECT member_count FROM telegram_channels").fetchone()["member_count"] == 1234


def test_the_deck_shows_subscribers_over_time_and_joins_and_leaves_by_link(app, client, login, space, db, telegram,
                                                                           clock):
    bot = funnel(app, client, space, telegram)
    invite = click_and_request(app, client, bot, telegram, clock, 1, 4001)
    run_worker(app)
    post_update(client, bot, chat_member_update(2, 4001, int(clock.now.timestamp()), "left", "member", invite))
    run_worker(app)
    for hours, count in ((2, 1000), (1, 1001), (0, 1002)):
        db.execute("INSERT INTO telegram_channel_stats (space_id, chat_id, hour, member_count, joins)"
                   " VALUES (%s, %s, %s, %s, 1)", (space["id"], CHANNEL_ID, stats.hour_of(clock.now) - timedelta(hours=hours),
                                                   count))
    viewer = login("viewer")
    deck = html(viewer.get(f"/spaces/{space['slug']}/"))
    lazy = deck.select_one("#telegram_channels")
    assert lazy["hx-get"].startswith(f"/spaces/{space['slug']}/telegram/deck-panel?")
    panel = html(viewer.get(lazy["hx-get"])).select_one("#telegram_channels")
    assert panel.select_one("figure.subscribers polyline")["points"].count(",") == 3
    row = panel.select_one("#deck-link-membership tbody tr")
    assert "signals" in row.text and [td.text for td in row.select("td")][2:] == ["1", "0", "1", "0"]
    funnel_widget = html(viewer.get(f"/spaces/{space['slug']}/partials/funnel"))
    assert funnel_widget.select_one("#funnel-subscribed")["data-count"] == "1"  # the attributed join


def test_the_journey_page_shows_the_channel_and_drip_per_user(app, client, login, space, db, telegram, clock):
    bot = funnel(app, client, space, telegram)
    set_drip(app, [{"delay_seconds": 0, "text_html": "Hi", "buttons": []},
                   {"delay_seconds": 3600, "text_html": "Later", "buttons": []}])
    click_and_request(app, client, bot, telegram, clock, 1, 4001)
    run_worker(app)
    uid = db.execute("SELECT uid FROM telegram_join_requests").fetchone()["uid"]
    page = html(login("viewer").get(f"/spaces/{space['slug']}/received/journeys/{uid}"))
    assert "approved" in page.select_one("#journey-channel tr.join-request").text
    assert [r["data-state"] for r in page.select("#journey-drip tr.drip-message")] == ["sent", "due"]


def test_a_space_without_channels_gets_an_empty_hidden_panel(app, login, space, telegram):
    viewer = login("viewer")
    panel = html(viewer.get(f"/spaces/{space['slug']}/telegram/deck-panel")).select_one("#telegram_channels")
    assert panel.has_attr("hidden")
