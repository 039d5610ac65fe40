"""POST /bind and GET /bind: compare-and-set, retries, conflicts and back-filling by tg_id."""
from tests.conftest import bearer


def click(client, space) -> str:
    return client.post("/clicks", json={}, headers=bearer(space)).json["uid"]


def bind(client, space, uid, tg_id):
    return client.post("/bind", json={"uid": uid, "tg_id": tg_id}, headers=bearer(space))


def test_it_binds_a_clicked_uid_and_reports_matched(client, space, db):
    uid = click(client, space)
    r = bind(client, space, uid, 555123)
    assert r.status_code == 200
    assert r.json == {"ok": True, "matched": True}
    assert db.execute("SELECT tg_id FROM journeys WHERE uid = %s", (uid,)).fetchone()["tg_id"] == 555123


def test_it_reports_unmatched_for_a_uid_without_a_click_but_keeps_the_binding(client, space, db):
    r = bind(client, space, "never-clicked", 555123)
    assert r.json == {"ok": True, "matched": False}
    assert db.execute("SELECT tg_id, clicked_at FROM journeys").fetchone() == {"tg_id": 555123, "clicked_at": None}


def test_it_is_safe_to_retry(client, space):
    uid = click(client, space)
    assert bind(client, space, uid, 7).json == {"ok": True, "matched": True}
    assert bind(client, space, uid, 7).json == {"ok": True, "matched": True}


def test_it_refuses_a_second_user_for_the_same_uid_with_409(client, space, db):
    uid = click(client, space)
    bind(client, space, uid, 7)
    r = bind(client, space, uid, 8)
    assert r.status_code == 409
    assert r.json["ok"] is False and r.json["status"] == "conflict" and r.json["matched"] is True
    assert db.execute("SELECT tg_id FROM journeys WHERE uid = %s", (uid,)).fetchone()["tg_id"] == 7


def test_it_lets_one_user_bind_several_clicks_and_resolves_to_the_latest(client, space, clock, db):
    first, second = click(client, space), click(client, space)
    bind(client, space, first, 7)
    clock.advance(minutes=5)
    bind(client, space, second, 7)
    client.post("/events", json={"event": "registration", "tg_id": 7}, headers=bearer(space))
    assert db.execute("SELECT uid FROM events").fetchone()["uid"] == second


def test_it_backfills_uidless_events_of_the_user_onto_the_journey(client, space, clock, db):
    t0 = int(clock.now.timestamp() * 1000)
    client.post("/events", json={"event": "subscribed", "tg_id": 42, "occurred_at_ms": t0 - 3000}, headers=bearer(space))
    client.post("/events", json={"event": "deposit", "tg_id": 42, "value": "10", "eid": "d1",
                                 "occurred_at_ms": t0 - 1000}, headers=bearer(space))
    client.post("/events", json={"event": "deposit", "tg_id": 99, "value": "99", "eid": "d2"}, headers=bearer(space))
    uid = click(client, space)
    assert bind(client, space, uid, 42).json == {"ok": True, "matched": True}
    events = db.execute("SELECT event, uid FROM events WHERE tg_id = 42 ORDER BY id").fetchall()
    assert [e["uid"] for e in events] == [uid, uid]
    journey = db.execute("SELECT event_count, deposit_count, revenue, subscribed_at IS NOT NULL AS sub"
                         " FROM journeys WHERE uid = %s", (uid,)).fetchone()
    assert journey == {"event_count": 2, "deposit_count": 1, "revenue": {"USD": "10.000000"}, "sub": True}
    assert db.execute("SELECT uid FROM events WHERE tg_id = 99").fetchone()["uid"] is None
    # A retried bind moves nothing again.
    bind(client, space, uid, 42)
    assert db.execute("SELECT event_count FROM journeys WHERE uid = %s", (uid,)).fetchone()["event_count"] == 2


def test_get_bind_takes_tg_and_the_ingest_token(client, space, db):
    uid = click(client, space)
    r = client.get(f"/bind?token={space['ingest']}&uid={uid}&tg=555123")
    assert r.status_code == 200 and r.json == {"ok": True, "matched": True}
    assert client.get(f"/bind?token={space['ingest']}&uid={uid}&tg_id=555123").json == {"ok": True, "matched": True}


def test_get_bind_refuses_the_bearer_secret_in_the_url(client, space):
    assert client.get(f"/bind?token={space['bearer']}&uid=abc&tg=1").status_code == 401


def test_post_bind_refuses_the_ingest_token(client, space):
    r = client.post("/bind", json={"uid": "a", "tg_id": 1}, headers={"Authorization": f"Bearer {space['ingest']}"})
    assert r.status_code == 401


def test_it_rejects_missing_or_bad_fields(client, space, db):
    assert bind(client, space, None, 1).json["status"] == "invalid_uid"
    assert bind(client, space, "a&b", 1).json["status"] == "invalid_uid"
    assert bind(client, space, "abc", None).json["status"] == "invalid_tg_id"
    assert bind(client, space, "abc", "x").json["status"] == "invalid_tg_id"
    r = client.post("/bind", json={"uid": "abc", "tg_id": 1, "chat": 2}, headers=bearer(space))
    assert r.status_code == 400 and r.json["status"] == "invalid_request"
    assert client.get(f"/bind?token={space['ingest']}&uid=abc").json["status"] == "invalid_tg_id"
    assert db.execute("SELECT count(*) AS n FROM journeys").fetchone()["n"] == 0
