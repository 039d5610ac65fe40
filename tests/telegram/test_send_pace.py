"""The bot's messages keep Telegram's pace of about 30 per second per bot, as the fake Bot API sees them arrive.

The sender sends one message at a time and waits for its answer, and its moving window lets at
most 30 messages start in any second. So, whatever the machine's speed, the arrivals the fake
records can only be more spread out, never less: at most 31 fall within any span shorter than a
second (one message may start just before the window and arrive inside it), and 62 messages
cannot arrive within less than 2 seconds. Without the pacing, a burst of 62 arrives far faster.
"""
from tests.telegram.conftest import post_update, run_worker
from tests.telegram.fake_bot_api import join_request_update
from tests.telegram.test_join_and_drip import funnel, set_drip

PEOPLE = 62


def most_within_a_second(times: list[float]) -> int:
    """The most arrivals inside any span shorter than one second."""
    times = sorted(times)
    most, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= 1.0:
            start += 1
        most = max(most, end - start + 1)
    return most


def test_a_burst_of_welcomes_to_different_people_goes_at_30_per_second(app, client, space, db, telegram, clock):
    bot = funnel(app, client, space, telegram)
    set_drip(app, [{"delay_seconds": 0, "text_html": "Welcome", "buttons": []}])
    for n in range(PEOPLE):
        response = post_update(client, bot, join_request_update(n + 1, 500_000 + n, int(clock.now.timestamp()), None))
        assert response.status_code == 200
    run_worker(app)
    sends = telegram.called("sendMessage")
    assert len(sends) == PEOPLE and len({c["params"]["chat_id"] for c in sends}) == PEOPLE
    arrivals = [c["at"] for c in sends]
    assert most_within_a_second(arrivals) <= 31
    assert max(arrivals) - min(arrivals) >= 2.0
    assert db.execute("SELECT count(*) AS n FROM telegram_messages WHERE state = 'sent'").fetchone()["n"] == PEOPLE


def test_the_window_count_sees_a_burst():
    assert most_within_a_second([0.0] * 40 + [1.0, 1.5]) == 40
    assert most_within_a_second([i * 0.034 for i in range(60)]) == 30
    assert most_within_a_second([]) == 0
