"""Rows with a shape: the claimed delivery, the destination, the link and the recorded event are dataclasses
built by psycopg's class_row, so a SELECT and its row type cannot drift apart unnoticed."""
import dataclasses
from datetime import timedelta
from decimal import Decimal

import pytest
from psycopg.rows import class_row

from app import db as app_db
from app.conversion import journeys
from app.conversion.rows import RecordedEvent
from app.delivery import store
from app.delivery.rows import ClaimedDelivery, Destination, SealedDestination
from app.lib import clock as app_clock
from app.link import store as link_store
from app.link.rows import Link
from tests.delivery.conftest import add_click, make_destination, send_event
from tests.landing.landing_helpers import make_link

ROW_TYPES = (ClaimedDelivery, Destination, SealedDestination, Link, RecordedEvent)


@pytest.mark.parametrize("row_type", ROW_TYPES, ids=lambda t: t.__name__)
def test_a_column_the_row_type_lacks_or_a_field_the_select_lacks_raises(db, row_type):
    names = [f.name for f in dataclasses.fields(row_type)]
    select = "SELECT " + ", ".join(f"NULL AS {name}" for name in names)
    row = db.cursor(row_factory=class_row(row_type)).execute(select).fetchone()
    assert isinstance(row, row_type)
    with pytest.raises(TypeError):
        db.cursor(row_factory=class_row(row_type)).execute(select + ", NULL AS added_to_the_query").fetchone()
    with pytest.raises(TypeError):
        db.cursor(row_factory=class_row(row_type)).execute(
            "SELECT " + ", ".join(f"NULL AS {name}" for name in names[:-1])).fetchone()


def test_the_rows_are_frozen(app, space, httpserver):
    destination, _ = make_destination(app, space, "webhook", url=httpserver.url_for("/hook"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        destination.name = "changed"


def test_every_store_query_builds_its_row_type(app, client, space, httpserver, clock):
    destination, _ = make_destination(app, space, "postback", url_template=httpserver.url_for("/pb") + "?e={event}")
    link = make_link(app, space, "rows-link", kind="web", target="https://example.com/?u={uid}")
    assert isinstance(link, Link) and link.slug == "rows-link" and link.space_id == space["id"]
    add_click(app, space, "rows-uid", clock(), link_slug="rows-link", fbclid="IwAR-rows", user_agent="UA/1")
    inbox_id = send_event(client, space, event="deposit", uid="rows-uid", value="5", eid="tx-rows")
    with app.app_context():
        with app_db.connection() as conn:
            now = app_clock.now()
            token, claimed = store.claim_due_deliveries(conn, now=now, lease_until=now + timedelta(seconds=60),
                                                        limit=10)
            assert [type(row) for row in claimed] == [ClaimedDelivery]
            (row,) = claimed
            assert (row.event_id, row.destination_id, row.event, row.uid, row.fbclid, row.space_slug) == (
                inbox_id, destination.id, "deposit", "rows-uid", "IwAR-rows", space["slug"])
            assert row.stable_id == f"xt-{inbox_id}-{destination.id}"
            (sealed,) = store.load_destinations(conn, [(space["id"], destination.id)])
            assert isinstance(sealed, SealedDestination) and sealed.secret is None
            assert all(isinstance(d, Destination) for d in store.list_destinations(conn, space["id"]))
            assert store.get_destination(conn, space["id"], destination.id) == destination
            assert link_store.find_landing_link(conn, "rows-link", None) == link
            assert link_store.list_links(conn, space["id"]) == [link]
            (event,) = journeys.list_journey_events(conn, space["id"], "rows-uid")
            assert isinstance(event, RecordedEvent)
            assert (event.id, event.event, event.uid, event.eid, event.value) == (
                inbox_id, "deposit", "rows-uid", "tx-rows", Decimal("5"))
