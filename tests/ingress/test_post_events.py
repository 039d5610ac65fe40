"""POST /events: every status, every auth failure, validation and stitching."""
import json

import pytest

from tests.conftest import bearer


def post(client, space, body, **headers):
    return client.post("/events", data=json.dumps(body) if not isinstance(body, (str, bytes)) else body,
                       headers={**bearer(space), "Content-Type": "application/json", **headers})


def test_it_queues_a_new_deposit(client, space, db):
    r = post(client, space, {"uid": "abc", "event": "deposit", "value": "25.00", "currency": "USD", "eid": "tx-1"})
    assert r.status_code == 200
    assert r.json == {"ok": True, "status": "queued", "inbox_id": r.json["inbox_id"]}
    row = db.execute("SELECT event, uid, value, currency, eid, source FROM events WHERE id = %s",
                     (int(r.json["inbox_id"]),)).fetchone()
    assert row == {"event": "deposit", "uid": "abc", "value": pytest.approx(25), "currency": "USD", "eid": "tx-1",
                   "source": "post"}


def test_it_answers_duplicate_for_the_same_eid(client, space, db):
    first = post(client, space, {"uid": "abc", "event": "deposit", "value": "25.00", "eid": "tx-1"})
    again = post(client, space, {"uid": "abc", "event": "deposit", "value": "25.00", "eid": "tx-1",
                                 "occurred_at_ms": first.json and None})
    assert again.status_code == 200
    assert again.json == {"ok": True, "status": "duplicate", "inbox_id": first.json["inbox_id"]}
    journey = db.execute("SELECT deposit_count, revenue FROM journeys WHERE uid = 'abc'").fetchone()
    assert journey == {"deposit_count": 1, "revenue": {"USD": "25.000000"}}
