"""Delivery fixtures: an app that may call local sinks, destinations, events, and a real RQ worker."""
import json
from datetime import datetime

import pytest
from rq import SimpleWorker

from app import close_app, create_app, db as app_db
from app.conversion import wake
from app.delivery import configure, store as delivery_store
from app.conversion import store as ingress_store
from jobs import QUEUES, delivery as delivery_jobs, queue_connection
from tests.conftest import bearer, settings


@pytest.fixture
def app(servers, clock):
    """The app with private destinations allowed (sinks are local) and short timeouts."""
    application = create_app(settings(servers, CLOCK=clock, ALLOW_PRIVATE_DESTINATIONS=True,
                                      DELIVERY_READ_TIMEOUT=1.0, DELIVERY_CONNECT_TIMEOUT=1.0,
                                      DELIVERY_CONCURRENCY=4, CAPI_CLICK_WAIT_SECONDS=0))
    application.config["TESTING"] = True
    yield application
    close_app(application)


def make_destination(app, space: dict, kind: str, **fields) -> tuple[dict, str | None]:
    """Create a destination of `kind` in the space; return (row, webhook secret or None)."""
    name = fields.pop("name", None)
    event_map = fields.pop("event_map", None)
    with app.app_context():
        return configure.create_destination(space["id"], kind, fields, name=name, event_map=event_map)


def capi_fields(app, httpserver, **extra) -> dict:
    """Settings of a CAPI destination whose Graph API is the local sink."""
    app.config["GRAPH_API_BASE_URL"] = httpserver.url_for("/graph").rstrip("/")
    return {"pixel_id": "1234567890", "access_token": "EAAB-secret-token-value", **extra}


def send_event(client, space: dict, **body):
    """POST /events for the space; assert it was queued; return the inbox id."""
    response = client.post("/events", data=json.dumps(body),
                           headers={**bearer(space), "Content-Type": "application/json"})
    assert response.status_code == 200, response.json
    assert response.json["status"] == "queued"
    return int(response.json["inbox_id"])


def add_click(app, space: dict, uid: str, created_at: datetime, **fields) -> None:
    """A click with a chosen uid, as the landing records it."""
    with app.app_context():
        with app_db.connection() as conn:
            ingress_store.create_click(conn, space["id"], uid, created_at, "api", fields)


def run_worker(app) -> None:
    """Wake the workers and run a real RQ SimpleWorker in burst mode until the queues are empty."""
    with app.app_context():
        wake.wake(app, wake.DELIVERY)
        worker = SimpleWorker(QUEUES, connection=queue_connection(app))
        worker.work(burst=True, logging_level="WARNING")


def sweep(app) -> bool:
    """Run the periodic sweeper once."""
    with app.app_context():
        return delivery_jobs.sweep_due_deliveries()


def deliveries(db, space: dict | None = None) -> list[dict]:
    """Every delivery row (of one space), oldest first."""
    query = ("SELECT id, space_id, event_id, destination_id, event, status, attempts, auto_next_at,"
             " CASE WHEN next_attempt_at = 'infinity' THEN NULL ELSE next_attempt_at END AS next_attempt_at,"
             " next_attempt_at = 'infinity' AS held,"
             " last_status_code, last_error, delivered_at, manual_requested_at FROM deliveries")
    if space is not None:
        return db.execute(query + " WHERE space_id = %s ORDER BY id", (space["id"],)).fetchall()
    return db.execute(query + " ORDER BY id").fetchall()


def attempts(db, delivery_id: int) -> list[dict]:
    """The attempt log of one delivery, oldest first."""
    return db.execute("SELECT trigger, outcome, status_code, error, request_excerpt, response_excerpt"
                      " FROM delivery_attempts WHERE delivery_id = %s ORDER BY id", (delivery_id,)).fetchall()


@pytest.fixture
def store():
    """app.delivery.store, for tests that call the dashboard's functions."""
    return delivery_store
