"""Space A's credentials never read or write space B's data, on every ingress endpoint."""
from tests.conftest import bearer


def test_events_of_two_spaces_dedup_independently(client, space, other_space, db):
    body = {"uid": "same", "event": "deposit", "value": "5", "eid": "tx-1"}
    assert client.post("/events", json=body, headers=bearer(space)).json["status"] == "queued"
    assert client.post("/events", json=body, headers=bearer(other_space)).json["status"] == "queued"
    rows = db.execute("SELECT space_id, count(*) AS n FROM events GROUP BY space_id ORDER BY space_id").fetchall()
    assert rows == [{"space_id": space["id"], "n": 1}, {"space_id": other_space["id"], "n": 1}]
    journeys = db.execute("SELECT space_id, revenue FROM journeys ORDER BY space_id").fetchall()
    assert [j["revenue"] for j in journeys] == [{"USD": "5.000000"}, {"USD": "5.000000"}]


def test_a_postback_lands_only_in_the_token_s_space(client, space, other_space, db):
    client.get(f"/e?token={other_space['ingest']}&event=registration&uid=shared")
    assert db.execute("SELECT space_id FROM events").fetchone()["space_id"] == other_space["id"]
    assert db.execute("SELECT count(*) AS n FROM journeys WHERE space_id = %s", (space["id"],)).fetchone()["n"] == 0


def test_binding_in_one_space_does_not_see_or_touch_another_space_s_click(client, space, other_space, db):
    uid = client.post("/clicks", json={}, headers=bearer(space)).json["uid"]
    r = client.post("/bind", json={"uid": uid, "tg_id": 5}, headers=bearer(other_space))
    assert r.json == {"ok": True, "matched": False}
    r = client.get(f"/bind?token={other_space['ingest']}&uid={uid}&tg=6")
    assert r.status_code == 409
    assert db.execute("SELECT tg_id FROM journeys WHERE space_id = %s AND uid = %s",
                      (space["id"], uid)).fetchone()["tg_id"] is None


def test_a_bind_backfills_only_its_own_space_s_events(client, space, other_space, db):
    client.post("/events", json={"event": "subscribed", "tg_id": 9}, headers=bearer(space))
    client.post("/bind", json={"uid": "b-uid", "tg_id": 9}, headers=bearer(other_space))
    assert db.execute("SELECT uid FROM events WHERE space_id = %s", (space["id"],)).fetchone()["uid"] is None


def test_an_event_resolved_by_tg_id_uses_only_its_own_space_s_bindings(client, space, other_space, db):
    client.post("/bind", json={"uid": "a-uid", "tg_id": 9}, headers=bearer(space))
    client.post("/events", json={"event": "registration", "tg_id": 9}, headers=bearer(other_space))
    assert db.execute("SELECT uid FROM events WHERE space_id = %s", (other_space["id"],)).fetchone()["uid"] is None


def test_clicks_are_minted_into_the_credential_s_space(client, space, other_space, db):
    uid = client.post("/clicks", json={}, headers=bearer(other_space)).json["uid"]
    assert db.execute("SELECT space_id FROM clicks WHERE uid = %s", (uid,)).fetchone()["space_id"] == other_space["id"]
