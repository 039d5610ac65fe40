"""The retry schedule (injectable clock), timeouts, Retry-After, 410 and the 5-day pause."""
import random
import time
from datetime import timedelta

from werkzeug import Response

from app.delivery import schedule
from tests.delivery.conftest import attempts, deliveries, make_destination, run_worker, send_event


def test_it_follows_the_published_schedule_then_gives_up(app, client, space, db, httpserver, clock):
    make_destination(app, space, "webhook", url=httpserver.url_for("/hook"))
    httpserver.expect_request("/hook").respond_with_data("nope", status=503)
    send_event(client, space, event="deposit", uid="abc", value="1", eid="tx")

    for n, step in enumerate(schedule.SCHEDULE, start=1):
        run_worker(app)
        (row,) = deliveries(db)
        assert (row["status"], row["attempts"]) == ("failed", n)
        delay = row["next_attempt_at"] - clock.now
        assert step * 0.8 <= delay <= step * 1.2
        clock.advance(seconds=delay.total_seconds() - 1)
        run_worker(app)
        assert deliveries(db)[0]["attempts"] == n, "nothing is attempted before it is due"
        clock.advance(seconds=1)
    run_worker(app)

    (row,) = deliveries(db)
    assert (row["status"], row["attempts"], row["next_attempt_at"]) == ("dead", 8, None)
    assert row["last_error"] == "HTTP 503; retry schedule exhausted after 8 attempts"
    assert len(httpserver.log) == 8
    assert [a["outcome"] for a in attempts(db, row["id"])] == ["failed"] * 7 + ["dead"]


def test_it_jitters_each_step_by_at_most_twenty_percent():
    rng = random.Random(7)
    delays = [schedule.next_delay(2, rng=rng) for _ in range(200)]
    assert min(delays) >= timedelta(minutes=4) and max(delays) <= timedelta(minutes=6)
    assert len(set(delays)) > 100
    assert schedule.next_delay(schedule.MAX_ATTEMPTS) is None


def test_it_waits_at_least_a_minute_after_a_429_and_honours_retry_after():
    assert schedule.next_delay(1, slow=True) == timedelta(seconds=60)
    assert schedule.next_delay(1, retry_after=900) == timedelta(seconds=900)
    assert schedule.next_delay(1, retry_after=10 ** 9) == schedule.RETRY_AFTER_CAP


def test_it_retries_a_timeout_no_sooner_than_a_minute(app, client, space, db, httpserver, clock):
    make_destination(app, space, "webhook", url=httpserver.url_for("/slow"))
    answers = iter(["sleep", "ok"])

    def handler(request):
        if next(answers) == "sleep":
            time.sleep(1.5)
        return Response("ok")

    httpserver.expect_request("/slow").respond_with_handler(handler)
    send_event(client, space, event="contact", uid="abc")
    run_worker(app)
    (row,) = deliveries(db)
    assert row["status"] == "failed" and row["last_error"].startswith("timed out")
    assert row["next_attempt_at"] - clock.now >= timedelta(seconds=60)
    clock.advance(seconds=61)
    run_worker(app)
    assert deliveries(db)[0]["status"] == "delivered"


def test_it_honours_a_retry_after_header(app, client, space, db, httpserver, clock):
    make_destination(app, space, "webhook", url=httpserver.url_for("/hook"))
    httpserver.expect_request("/hook").respond_with_data("busy", status=429, headers={"Retry-After": "600"})
    send_event(client, space, event="contact", uid="abc")
    run_worker(app)
    (row,) = deliveries(db)
    assert row["status"] == "failed" and row["next_attempt_at"] - clock.now == timedelta(seconds=600)


def test_a_410_pauses_the_destination_and_holds_its_deliveries(app, client, space, db, httpserver, clock):
    destination, _ = make_destination(app, space, "webhook", url=httpserver.url_for("/hook"))
    answers = iter([410, 200, 200])
    httpserver.expect_request("/hook").respond_with_handler(lambda request: Response("", status=next(answers)))
    send_event(client, space, event="contact", uid="a")
    run_worker(app)
    paused = db.execute("SELECT paused_at, paused_reason FROM destinations").fetchone()
    assert paused["paused_at"] == clock.now and "410" in paused["paused_reason"]
    send_event(client, space, event="contact", uid="b")
    clock.advance(hours=12)
    run_worker(app)
    assert len(httpserver.log) == 1
    assert {r["status"] for r in deliveries(db)} == {"failed", "pending"}

    with app.app_context():
        from app.delivery import configure
        configure.resume(space["id"], destination.id)
    run_worker(app)
    assert {r["status"] for r in deliveries(db)} == {"delivered"}


def test_five_days_of_failures_pause_the_destination(app, client, space, db, httpserver, clock):
    make_destination(app, space, "webhook", url=httpserver.url_for("/hook"))
    httpserver.expect_request("/hook").respond_with_data("down", status=500)
    for day in range(6):
        send_event(client, space, event="contact", uid=f"u{day}")
        run_worker(app)
        state = db.execute("SELECT failing_since, paused_at, paused_reason FROM destinations").fetchone()
        if day < 5:
            assert state["paused_at"] is None
        clock.advance(days=1)
    assert state["paused_at"] is not None and state["paused_reason"].startswith("failing continuously since")
