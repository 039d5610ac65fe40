"""GET /e: header-less postbacks with the ingest token."""
from urllib.parse import urlencode

import pytest


def get_e(client, token, **params):
    return client.get("/e?" + urlencode({"token": token, **params}))


def test_it_queues_then_dedups_a_postback_by_eid(client, space, db):
    first = get_e(client, space["ingest"], event="deposit", uid="abc", value="25", currency="USD", eid="tx-1")
    assert first.status_code == 200
    assert first.json == {"ok": True, "status": "queued", "inbox_id": first.json["inbox_id"]}
    again = get_e(client, space["ingest"], event="deposit", uid="abc", value="25", currency="USD", eid="tx-1")
    assert again.json == {"ok": True, "status": "duplicate", "inbox_id": first.json["inbox_id"]}
    row = db.execute("SELECT event, uid, value::text, currency, eid, source FROM events").fetchone()
    assert row == {"event": "deposit", "uid": "abc", "value": "25.000000", "currency": "USD", "eid": "tx-1",
                   "source": "get"}


def test_it_takes_t_as_the_event_time(client, space, clock, db):
    t = int(clock.now.timestamp() * 1000) - 60_000
    get_e(client, space["ingest"], event="registration", uid="abc", t=str(t))
    assert db.execute("SELECT occurred_at_ms FROM events").fetchone()["occurred_at_ms"] == t


def test_it_treats_empty_macros_as_absent_and_ignores_extra_parameters(client, space, db):
    r = get_e(client, space["ingest"], event="registration", uid="", eid="", value="", currency="", t="",
              sub1="partner-extra", click_id="zzz")
    assert r.json["status"] == "queued"
    row = db.execute("SELECT uid, eid, value, currency FROM events").fetchone()
    assert row == {"uid": None, "eid": None, "value": None, "currency": "USD"}


@pytest.mark.parametrize("params, status", [
    ({"event": "lead"}, "invalid_event"),
    ({}, "invalid_event"),
    ({"event": "deposit", "value": "{sumdep}"}, "invalid_value"),
    ({"event": "deposit", "value": "12abc"}, "invalid_value"),
    ({"event": "deposit", "t": "yesterday"}, "invalid_time"),
    ({"event": "deposit", "t": "1764086400"}, "invalid_time"),
    ({"event": "deposit", "t": "99999999999999"}, "invalid_time"),
    ({"event": "deposit", "uid": "{click_id}"}, "invalid_uid"),
    ({"event": "deposit", "currency": "dollars"}, "invalid_currency"),
    ({"event": "deposit", "value": "5", "eid": "{trader_id}"}, "invalid_eid"),
    ({"event": "deposit", "value": "5", "eid": "dep-{txid}"}, "invalid_eid"),
    ({"event": "deposit", "value": "5", "eid": "[TXID]"}, "invalid_eid"),
    ({"event": "deposit", "value": "5", "eid": "%TXID%"}, "invalid_eid"),
])
def test_it_rejects_bad_parameters_with_the_documented_status(client, space, db, params, status):
    r = get_e(client, space["ingest"], **params)
    assert r.status_code == 400
    assert r.json["ok"] is False and r.json["status"] == status and r.json["error"]
    assert db.execute("SELECT count(*) AS n FROM events").fetchone()["n"] == 0


def test_it_answers_401_without_a_token(client, space):
    r = client.get("/e?event=deposit")
    assert r.status_code == 401 and r.json["status"] == "unauthorized"


def test_it_answers_401_for_an_unknown_token(client, space):
    assert get_e(client, "xti_unknown", event="deposit").status_code == 401


def test_it_refuses_a_bearer_secret_in_the_url_and_says_to_rotate_it(client, space, db):
    r = get_e(client, space["bearer"], event="deposit")
    assert r.status_code == 401
    assert "must never travel in a URL" in r.json["error"] and "rotate" in r.json["error"]
    assert db.execute("SELECT count(*) AS n FROM events").fetchone()["n"] == 0


def test_it_does_not_accept_the_ingest_token_in_an_authorization_header(client, space):
    r = client.get("/e?event=deposit", headers={"Authorization": f"Bearer {space['ingest']}"})
    assert r.status_code == 401
