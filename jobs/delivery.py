"""Delivery jobs: the RQ job that drains the outbox, and the periodic sweeper."""
from flask import current_app

from app import db
from app.conversion import store, wake
from app.delivery import dispatch
from app.lib import clock


def deliver_due() -> int:
    """Deliver every due delivery (batched, concurrent) until none is due; return how many were handled."""
    app = current_app._get_current_object()
    wake.woken(app, wake.DELIVERY)
    return dispatch.run(app)


def sweep_due_deliveries() -> bool:
    """Wake the workers when deliveries are due: retries, manual requests, expired leases, lost wake-ups.

    Postgres decides what is due, so a killed worker, a lost RQ job or a Redis outage delays a
    delivery until the next sweep but never loses it.
    """
    with db.connection() as conn:
        due = store.find_next_due(conn, clock.now())
    if due:
        wake.wake(current_app._get_current_object(), wake.DELIVERY)
    return due
