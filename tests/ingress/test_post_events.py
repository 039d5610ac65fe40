"""POST /events: every status, every auth failure, validation, flags and the live feed signal."""
import json
import time

import pytest

from tests.conftest import bearer


def post(client, space, body, headers=None):
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.post("/events", data=data,
                       headers={**bearer(space), "Content-Type": "application/json", **(headers or {})})


def count_events(db) -> int:
    return db.execute("SELECT count(*) AS n FROM events").fetchone()["n"]


def test_it_queues_a_new_deposit(client, space, db):
    r = post(client, space, {"uid": "abc", "event": "deposit", "value": "25.00", "currency": "USD", "eid": "tx-1"})
    assert r.status_code == 200
    assert r.json == {"ok": True, "status": "queued", "inbox_id": r.json["inbox_id"]}
    assert isinstance(r.json["inbox_id"], str)
    row = db.execute("SELECT space_id, event, uid, value::text, currency, eid, source, flags FROM events WHERE id = %s",
                     (int(r.json["inbox_id"]),)).fetchone()
    assert row == {"space_id": space["id"], "event": "deposit", "uid": "abc", "value": "25.000000",
                   "currency": "USD", "eid": "tx-1", "source": "post", "flags": []}


def test_it_answers_duplicate_for_a_repeated_eid_with_the_first_inbox_id(client, space, clock, db):
    first = post(client, space, {"uid": "abc", "event": "deposit", "value": "25.00", "eid": "tx-1"})
    clock.advance(seconds=30)
    again = post(client, space, {"uid": "abc", "event": "deposit", "value": "25.00", "eid": "tx-1"})
    assert again.status_code == 200
    assert again.json == {"ok": True, "status": "duplicate", "inbox_id": first.json["inbox_id"]}
    assert count_events(db) == 1
    journey = db.execute("SELECT deposit_count, event_count, revenue FROM journeys WHERE uid = 'abc'").fetchone()
    assert journey == {"deposit_count": 1, "event_count": 1, "revenue": {"USD": "25.000000"}}


def test_it_dedups_without_eid_on_event_uid_and_pinned_time(client, space, clock, db):
    t = int(clock.now.timestamp() * 1000) - 5000
    body = {"uid": "abc", "event": "subscribed", "occurred_at_ms": t}
    assert post(client, space, body).json["status"] == "queued"
    assert post(client, space, body).json["status"] == "duplicate"
    assert post(client, space, {**body, "occurred_at_ms": t + 1}).json["status"] == "queued"
    assert post(client, space, {**body, "uid": "other"}).json["status"] == "queued"
    assert count_events(db) == 3


def test_it_keeps_a_registration_and_a_deposit_that_share_an_eid_apart(client, space):
    assert post(client, space, {"uid": "a", "event": "registration", "eid": "trader-7"}).json["status"] == "queued"
    assert post(client, space, {"uid": "a", "event": "deposit", "value": 10, "eid": "trader-7"}).json["status"] == "queued"


def test_it_stamps_receive_time_when_no_time_is_sent(client, space, clock, db):
    post(client, space, {"uid": "a", "event": "contact"})
    row = db.execute("SELECT occurred_at_ms FROM events").fetchone()
    assert row["occurred_at_ms"] == int(clock.now.timestamp() * 1000)


@pytest.mark.parametrize("value, stored", [
    ("25.00", "25.000000"), (25, "25.000000"), (25.5, "25.500000"), ("0", "0.000000"), (" 7.5 ", "7.500000"),
    ("0.1234567", "0.123457"), (".5", "0.500000"),
])
def test_it_accepts_numeric_values_as_strings_or_numbers(client, space, db, value, stored):
    assert post(client, space, {"uid": "a", "event": "deposit", "value": value, "eid": "x"}).json["status"] == "queued"
    assert db.execute("SELECT value::text AS v FROM events").fetchone()["v"] == stored


def test_it_case_folds_the_currency_and_defaults_to_usd(client, space, db):
    post(client, space, {"uid": "a", "event": "deposit", "value": 1, "currency": "eur", "eid": "1"})
    post(client, space, {"uid": "a", "event": "deposit", "value": 2, "eid": "2"})
    rows = db.execute("SELECT currency FROM events ORDER BY id").fetchall()
    assert [r["currency"] for r in rows] == ["EUR", "USD"]


def test_it_records_a_deposit_without_value_but_flags_it(client, space, db):
    r = post(client, space, {"uid": "a", "event": "deposit"})
    assert r.json["status"] == "queued"
    assert db.execute("SELECT flags FROM events").fetchone()["flags"] == ["deposit_without_value", "deposit_without_eid"]
    journey = db.execute("SELECT deposit_count, revenue FROM journeys").fetchone()
    assert journey == {"deposit_count": 1, "revenue": {}}


def test_it_accepts_a_numeric_eid_and_tg_id(client, space, db):
    r = post(client, space, {"event": "registration", "eid": 123456, "tg_id": 555123})
    assert r.json["status"] == "queued"
    assert db.execute("SELECT eid, tg_id, uid FROM events").fetchone() == {"eid": "123456", "tg_id": 555123, "uid": None}


@pytest.mark.parametrize("body, status", [
    ({}, "invalid_event"),
    ({"event": "signup"}, "invalid_event"),
    ({"event": "Deposit"}, "invalid_event"),
    ({"event": 4}, "invalid_event"),
    ({"event": "deposit", "value": "abc"}, "invalid_value"),
    ({"event": "deposit", "value": "{sumdep}"}, "invalid_value"),
    ({"event": "deposit", "value": "-5"}, "invalid_value"),
    ({"event": "deposit", "value": -5}, "invalid_value"),
    ({"event": "deposit", "value": "NaN"}, "invalid_value"),
    ({"event": "deposit", "value": "Infinity"}, "invalid_value"),
    ({"event": "deposit", "value": "1e5"}, "invalid_value"),
    ({"event": "deposit", "value": "25,00"}, "invalid_value"),
    ({"event": "deposit", "value": True}, "invalid_value"),
    ({"event": "deposit", "value": [25]}, "invalid_value"),
    ({"event": "deposit", "value": "1" * 19}, "invalid_value"),
    ({"event": "deposit", "currency": "usdollar"}, "invalid_currency"),
    ({"event": "deposit", "currency": "ABC"}, "invalid_currency"),
    ({"event": "deposit", "currency": 840}, "invalid_currency"),
    ({"event": "contact", "uid": "a" * 62}, "invalid_uid"),
    ({"event": "contact", "uid": "abc&def"}, "invalid_uid"),
    ({"event": "contact", "uid": "{click_id}"}, "invalid_uid"),
    ({"event": "contact", "uid": 123}, "invalid_uid"),
    ({"event": "contact", "tg_id": -5}, "invalid_tg_id"),
    ({"event": "contact", "tg_id": "abc"}, "invalid_tg_id"),
    ({"event": "contact", "tg_id": True}, "invalid_tg_id"),
    ({"event": "contact", "eid": "x" * 201}, "invalid_eid"),
    ({"event": "contact", "eid": {"id": 1}}, "invalid_eid"),
    ({"event": "contact", "eid": "a\nb"}, "invalid_eid"),
    ({"event": "contact", "occurred_at_ms": "soon"}, "invalid_time"),
    ({"event": "contact", "occurred_at_ms": 1.5}, "invalid_time"),
    ({"event": "contact", "occurred_at_ms": 1764086400}, "invalid_time"),
    ({"event": "contact", "foo": 1}, "invalid_request"),
])
def test_it_rejects_bad_fields_with_a_documented_status_and_writes_nothing(client, space, db, body, status):
    r = post(client, space, body)
    assert r.status_code == 400
    assert r.json["ok"] is False
    assert r.json["status"] == status
    assert isinstance(r.json["error"], str) and r.json["error"]
    assert count_events(db) == 0
    assert db.execute("SELECT count(*) AS n FROM journeys").fetchone()["n"] == 0


def test_it_rejects_times_outside_the_plausibility_window(client, space, clock):
    now_ms = int(clock.now.timestamp() * 1000)
    too_old = now_ms - 91 * 86_400_000
    too_new = now_ms + 11 * 60_000
    assert post(client, space, {"event": "contact", "occurred_at_ms": too_old}).json["status"] == "invalid_time"
    assert post(client, space, {"event": "contact", "occurred_at_ms": too_new}).json["status"] == "invalid_time"
    assert post(client, space, {"event": "contact", "occurred_at_ms": now_ms - 89 * 86_400_000}).json["status"] == "queued"
    assert post(client, space, {"event": "contact", "occurred_at_ms": now_ms + 9 * 60_000}).json["status"] == "queued"


@pytest.mark.parametrize("raw", [b"", b"not json", b"[1, 2]", b'"deposit"', b'{"event": "deposit", "value": NaN}',
                                 b'{"event": "deposit"'])
def test_it_rejects_a_body_that_is_not_a_json_object(client, space, db, raw):
    r = post(client, space, raw)
    assert r.status_code == 400
    assert r.json["status"] == "invalid_json"
    assert count_events(db) == 0


def test_it_rejects_a_body_that_is_not_utf8_as_invalid_text(client, space, db):
    r = post(client, space, b"\xff\xfe")
    assert r.status_code == 400
    assert r.json["status"] == "invalid_text"
    assert count_events(db) == 0


def test_it_rejects_a_body_over_the_size_limit_with_413(client, space, db):
    r = post(client, space, json.dumps({"event": "contact", "eid": "x" * 70_000}))
    assert r.status_code == 413
    assert r.json["ok"] is False and r.json["status"] == "payload_too_large"
    assert count_events(db) == 0


def test_it_counts_rejections_per_space_and_status(client, space, db):
    post(client, space, {"event": "nope"})
    post(client, space, {"event": "nope"})
    rows = db.execute("SELECT space_id, endpoint, status, count FROM ingress_rejections").fetchall()
    assert rows == [{"space_id": space["id"], "endpoint": "POST /events", "status": "invalid_event", "count": 2}]


@pytest.mark.parametrize("headers, reason_part", [
    ({}, "missing Authorization"),
    ({"Authorization": "Basic abc"}, "Bearer <secret>"),
    ({"Authorization": "Bearer "}, "Bearer <secret>"),
    ({"Authorization": "Bearer xtb_not-a-real-secret"}, "unknown secret"),
])
def test_it_answers_401_for_missing_or_wrong_bearer(app, space, db, headers, reason_part):
    r = app.test_client().post("/events", json={"event": "contact"}, headers=headers)
    assert r.status_code == 401
    assert r.json["status"] == "unauthorized" and reason_part in r.json["error"]
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert count_events(db) == 0


def test_it_refuses_the_ingest_token_as_a_bearer(app, space, db):
    r = app.test_client().post("/events", json={"event": "contact"},
                               headers={"Authorization": f"Bearer {space['ingest']}"})
    assert r.status_code == 401 and "ingest token" in r.json["error"]
    assert count_events(db) == 0


def test_it_refuses_a_bearer_secret_in_the_url_of_a_post(app, space, db):
    r = app.test_client().post(f"/events?token={space['bearer']}", json={"event": "contact"})
    assert r.status_code == 401 and "Authorization header" in r.json["error"]
    assert count_events(db) == 0


def test_it_publishes_each_new_event_on_the_space_feed_once(client, space, redis):
    pubsub = redis.pubsub()
    pubsub.subscribe(f"xt:space:{space['id']}:feed")
    pubsub.get_message(timeout=1)
    post(client, space, {"uid": "a", "event": "deposit", "value": "5", "eid": "d1"})
    post(client, space, {"uid": "a", "event": "deposit", "value": "5", "eid": "d1"})
    messages = []
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        message = pubsub.get_message(timeout=0.2)
        if message and message["type"] == "message":
            messages.append(json.loads(message["data"]))
    pubsub.close()
    assert len(messages) == 1
    assert messages[0]["type"] == "event" and messages[0]["event"] == "deposit"
    assert messages[0]["uid"] == "a" and messages[0]["value"] == "5.000000" and messages[0]["eid"] == "d1"


def test_it_answers_405_as_json_for_a_wrong_method(client):
    r = client.get("/events")
    assert r.status_code == 405
    assert r.json["status"] == "method_not_allowed"
