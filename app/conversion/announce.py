"""What follows a committed new event, wherever it came from (ingest API or landing)."""
from flask import current_app

from app import services
from app.conversion import wake
from app.conversion.events import EventIn
from app.pubsub import feed_channel


def announce_event(space_id: int, inbox_id: int, event: EventIn, uid: str | None) -> None:
    """Wake the delivery workers and publish the event on the space's live feed (both fail-soft).

    Neither does I/O on the request: the wake-up is coalesced by a background thread and the
    publish is queued; the sweeper and Postgres back both up.
    """
    wake.nudge(current_app._get_current_object(), wake.DELIVERY)
    services.of(current_app).publisher.publish(feed_channel(space_id), {
        "type": "event", "inbox_id": str(inbox_id), "event": event.event, "uid": uid,
        "value": None if event.value is None else str(event.value), "currency": event.currency,
        "eid": event.eid, "occurred_at_ms": event.occurred_at_ms, "flags": event.flags,
    })
