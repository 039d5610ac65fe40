"""Secrets: stored only as digests, rotation with a 24-hour grace, each kind on its own endpoints."""
from datetime import timedelta

from app import db as app_db
from app.auth import credentials, store
from tests.conftest import bearer


def rotate(app, space, kind):
    with app.app_context():
        with app_db.transaction() as conn:
            return store.rotate_key(conn, space["id"], kind, app.config["CLOCK"](), timedelta(hours=24))


def post_event(client, secret):
    return client.post("/events", json={"event": "contact"}, headers={"Authorization": f"Bearer {secret}"})


def test_secrets_are_stored_only_as_digests(space, db):
    rows = db.execute("SELECT secret_hash, hint FROM api_keys").fetchall()
    stored = b"".join(bytes(r["secret_hash"]) for r in rows) + "".join(r["hint"] for r in rows).encode()
    assert space["bearer"].encode() not in stored and space["ingest"].encode() not in stored
    assert all(len(bytes(r["secret_hash"])) == 32 for r in rows)


def test_the_previous_bearer_works_for_24_hours_after_rotation_then_stops(app, client, space, clock):
    old = space["bearer"]
    new = rotate(app, space, "bearer")
    assert new != old and new.startswith("xtb_")
    assert post_event(client, old).status_code == 200
    assert post_event(client, new).status_code == 200
    clock.advance(hours=23, minutes=59)
    assert post_event(client, old).status_code == 200
    clock.advance(minutes=1)
    r = post_event(client, old)
    assert r.status_code == 401 and "grace period has ended" in r.json["error"]
    assert post_event(client, new).status_code == 200


def test_the_expiry_holds_even_for_a_cached_secret(app, client, space, clock):
    app.config["AUTH_CACHE_SECONDS"] = 300
    credentials.clear_cache()
    old = space["bearer"]
    assert post_event(client, old).status_code == 200
    rotate(app, space, "bearer")
    credentials.clear_cache()
    assert post_event(client, old).status_code == 200
    clock.advance(hours=24, seconds=1)
    assert post_event(client, old).status_code == 401


def test_rotating_twice_keeps_the_first_grace_expiry(app, client, space, clock):
    first = space["bearer"]
    rotate(app, space, "bearer")
    clock.advance(hours=20)
    rotate(app, space, "bearer")
    clock.advance(hours=4, seconds=1)
    assert post_event(client, first).status_code == 401


def test_the_ingest_token_rotates_independently(app, client, space, clock):
    new = rotate(app, space, "ingest")
    assert new.startswith("xti_")
    assert client.get(f"/e?token={space['ingest']}&event=contact").status_code == 200
    assert client.get(f"/e?token={new}&event=subscribed").status_code == 200
    assert post_event(client, space["bearer"]).status_code == 200
    clock.advance(hours=25)
    assert client.get(f"/e?token={space['ingest']}&event=contact&eid=x").status_code == 401
    assert client.get(f"/e?token={new}&event=contact&eid=y").status_code == 200


def test_a_space_s_secret_only_ever_writes_to_that_space(client, space, other_space, db):
    client.post("/events", json={"event": "contact", "uid": "x"}, headers=bearer(other_space))
    assert db.execute("SELECT space_id FROM events").fetchone()["space_id"] == other_space["id"]
