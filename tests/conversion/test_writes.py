"""The core's writes and its after-commit announcement, without HTTP: real PostgreSQL and Redis."""
import json
from datetime import timedelta

from rq import Queue

from app import db as app_db, services

from app.conversion import wake
from app.conversion.announce import announce_event
from app.conversion.clicks import PendingClick
from app.conversion.events import EventIn
from app.conversion.store import InboxItem
from app.lib import clock as app_clock
from app.pubsub import feed_channel
from tests.delivery.conftest import app, make_destination  # noqa: F401


def _deposit(eid: str, uid: str | None = "u-core-1") -> EventIn:
    return EventIn(event="deposit", uid=uid, tg_id=None, eid=eid, value=None, currency="USD",
                   occurred_at_ms=app_clock.to_ms(app_clock.system_now()))


def test_one_submit_records_the_event_its_journey_and_one_delivery_per_mapping_destination(app, space, db, httpserver):
    mapped, _ = make_destination(app, space, "webhook", url=httpserver.url_for("/hook"))
    make_destination(app, space, "webhook", url=httpserver.url_for("/other"), event_map={"registration": "reg"})
    inbox = services.of(app).inbox
    now = app_clock.system_now()
    is_new, inbox_id = inbox.submit(InboxItem(space["id"], _deposit("tx-core-1"), "u-core-1", now, "post"))
    again = inbox.submit(InboxItem(space["id"], _deposit("tx-core-1"), "u-core-1", now, "post"))
    assert is_new and again == (False, inbox_id)
    journey = db.execute("SELECT event_count, deposit_count FROM journeys WHERE space_id = %s AND uid = 'u-core-1'",
                         (space["id"],)).fetchone()
    assert journey == {"event_count": 1, "deposit_count": 1}
    rows = db.execute("SELECT event_id, destination_id FROM deliveries WHERE space_id = %s", (space["id"],)).fetchall()
    assert rows == [{"event_id": inbox_id, "destination_id": mapped.id}]


def test_a_landing_batch_stores_the_click_opens_the_journey_and_records_its_contact(app, space, db):
    now = app_clock.system_now()
    contact = EventIn(event="contact", uid="u-core-2", tg_id=None, eid="u-core-2", value=None, currency="USD",
                      occurred_at_ms=app_clock.to_ms(now))
    writer = services.of(app).landing.writer
    without = writer.submit(PendingClick(space["id"], "u-core-3", now, {"link_slug": "core"}, None))
    is_new, inbox_id = writer.submit(PendingClick(space["id"], "u-core-2", now, {"link_slug": "core"}, contact))
    assert without is None and is_new
    clicks = db.execute("SELECT uid, source FROM clicks WHERE space_id = %s ORDER BY uid", (space["id"],)).fetchall()
    assert clicks == [{"uid": "u-core-2", "source": "landing"}, {"uid": "u-core-3", "source": "landing"}]
    journey = db.execute("SELECT clicked_at IS NOT NULL AS clicked, contact_at IS NOT NULL AS contacted"
                         " FROM journeys WHERE space_id = %s AND uid = 'u-core-2'", (space["id"],)).fetchone()
    assert journey == {"clicked": True, "contacted": True}
    assert db.execute("SELECT id FROM events WHERE space_id = %s", (space["id"],)).fetchone()["id"] == inbox_id


def test_the_announcement_publishes_the_event_on_the_spaces_feed(app, space, redis):
    listener = redis.pubsub()
    listener.subscribe(feed_channel(space["id"]))
    assert listener.get_message(timeout=5)["type"] == "subscribe"
    event = _deposit("tx-core-4")
    event.flags = ["deposit_without_value"]
    with app.app_context():
        announce_event(space["id"], 42, event, "u-core-1")
    services.of(app).publisher.flush(timeout=5)
    message = listener.get_message(timeout=5)
    listener.close()
    assert json.loads(message["data"]) == {
        "type": "event", "inbox_id": "42", "event": "deposit", "uid": "u-core-1", "value": None, "currency": "USD",
        "eid": "tx-core-4", "occurred_at_ms": event.occurred_at_ms, "flags": ["deposit_without_value"]}


def test_a_wake_up_queues_one_job_per_target_until_the_job_starts(app, redis):
    for target in (wake.DELIVERY, wake.TELEGRAM):
        queue = Queue(target.queue, connection=redis)
        assert wake.wake(app, target) and wake.wake(app, target)
        assert queue.count == 1 and queue.jobs[0].func_name == target.job
        wake.woken(app, target)
        assert wake.wake(app, target) and queue.count == 2


def test_the_delivery_waker_asks_the_outbox_whether_anything_is_due(app, space, db, httpserver):
    with app.app_context(), app_db.connection() as conn:
        assert wake.DELIVERY.due(conn, app_clock.system_now()) is False
    make_destination(app, space, "webhook", url=httpserver.url_for("/hook"))
    services.of(app).inbox.submit(InboxItem(space["id"], _deposit("tx-core-5"), None, app_clock.system_now(), "post"))
    with app.app_context(), app_db.connection() as conn:
        assert wake.DELIVERY.due(conn, app_clock.system_now() + timedelta(seconds=1)) is True
