"""Operator actions on the outbox: manual retries and replays (the dashboard and the CLI call these).

A manual attempt is logged with trigger `manual` and never moves the automatic schedule: a
failed delivery keeps its next automatic time, a dead one stays dead unless the attempt
succeeds. Each function commits, then wakes the workers.
"""
from datetime import datetime

from flask import current_app

from app import db
from app.delivery import store
from app.conversion.wake import DELIVERY, wake
from app.lib import clock


def retry_delivery(space_id: int, delivery_id: int) -> dict:
    """Attempt one delivery of the space now (any status); NotFound when it is not the space's."""
    with db.transaction() as conn:
        row = store.request_retry(conn, space_id, delivery_id, clock.now())
    wake(current_app._get_current_object(), DELIVERY)
    return row


def retry_cell(space_id: int, *, destination_id: int | None = None, event: str | None = None,
               start: datetime | None = None, end: datetime | None = None) -> int:
    """Attempt now every failed or dead delivery of a (destination, event) cell and/or time range; return how many."""
    with db.transaction() as conn:
        count = store.request_cell_retry(conn, space_id, destination_id=destination_id, event=event, start=start,
                                         end=end, now=clock.now())
    if count:
        wake(current_app._get_current_object(), DELIVERY)
    return count


def replay_since(space_id: int, destination_id: int, since: datetime) -> int:
    """Queue for one destination the mapped events received since `since` that it never got; return how many."""
    with db.transaction() as conn:
        store.get_destination(conn, space_id, destination_id)
        count = store.replay_since(conn, space_id, destination_id, since, clock.now())
    if count:
        wake(current_app._get_current_object(), DELIVERY)
    return count
