"""Postgres is the truth, Redis a signal: ingest survives Redis loss and answers 503 without Postgres."""
from app import close_app, create_app
from tests.conftest import bearer, settings


def test_it_still_queues_with_redis_stopped(app, servers, space, db):
    client = app.test_client()
    servers.stop_redis()
    try:
        r = client.post("/events", json={"uid": "a", "event": "deposit", "value": "5", "eid": "d1"}, headers=bearer(space))
        assert r.status_code == 200 and r.json["status"] == "queued"
        r = client.post("/events", json={"uid": "a", "event": "deposit", "value": "5", "eid": "d1"}, headers=bearer(space))
        assert r.json["status"] == "duplicate"
        assert client.post("/bind", json={"uid": "a", "tg_id": 3}, headers=bearer(space)).json["ok"] is True
        assert client.get("/readyz").status_code == 503
    finally:
        servers.start_redis()
    assert db.execute("SELECT count(*) AS n FROM events").fetchone()["n"] == 1


def test_it_answers_503_with_retry_after_when_postgres_is_unreachable(servers, tmp_path):
    broken = create_app(settings(servers, DATABASE_URL=f"postgresql://postgres@/nothing_test?host={tmp_path}",
                                 DB_POOL_TIMEOUT=0.5))
    try:
        client = broken.test_client()
        # Well-formed secrets, so the answer needs the database (text that cannot be a secret does not).
        r = client.post("/events", json={"event": "contact"}, headers={"Authorization": "Bearer xtb_" + "w" * 43})
        assert r.status_code == 503
        assert r.json["ok"] is False and r.json["status"] == "unavailable"
        assert r.headers["Retry-After"] == "5"
        r = client.get("/e?token=xti_" + "w" * 43 + "&event=contact")
        assert r.status_code == 503
        r = client.post("/events", json={"event": "contact"}, headers={"Authorization": "Bearer xtb_whatever"})
        assert r.status_code == 401
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json["checks"]["postgres"] is False
    finally:
        close_app(broken)
