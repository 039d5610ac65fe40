"""POST /clicks: back-filled clicks mint Telegram-safe uids."""
import re

from tests.conftest import bearer


def test_it_mints_a_telegram_safe_unguessable_uid(client, space, db):
    uids = {client.post("/clicks", json={}, headers=bearer(space)).json["uid"] for _ in range(20)}
    assert len(uids) == 20
    for uid in uids:
        assert re.fullmatch(r"[A-Za-z0-9_-]{22}", uid)
        assert len("fb_" + uid) <= 64
    assert db.execute("SELECT count(*) AS n FROM journeys WHERE clicked_at IS NOT NULL").fetchone()["n"] == 20


def test_it_stores_the_click_fields_and_builds_fbc_from_the_fbclid_byte_for_byte(client, space, clock, db):
    fbclid = "IwAR3x-Mixed_Case-9Zz"
    r = client.post("/clicks", json={"link_slug": "promo", "fbclid": fbclid, "campaign_name": "Black Friday",
                                     "raw_query": "utm_source=fb&utm_medium=cpc&utm_campaign=bf&utm_content=v2"},
                    headers=bearer(space))
    assert r.status_code == 200 and r.json["ok"] is True
    row = db.execute("SELECT link_slug, fbclid, fbc, campaign_name, utm_source, utm_medium, utm_campaign,"
                     " utm_content, raw_query, source FROM clicks WHERE uid = %s", (r.json["uid"],)).fetchone()
    assert row == {"link_slug": "promo", "fbclid": fbclid, "fbc": f"fb.1.{int(clock.now.timestamp() * 1000)}.{fbclid}",
                   "campaign_name": "Black Friday", "utm_source": "fb", "utm_medium": "cpc", "utm_campaign": "bf",
                   "utm_content": "v2", "raw_query": "utm_source=fb&utm_medium=cpc&utm_campaign=bf&utm_content=v2",
                   "source": "api"}


def test_it_takes_the_fbclid_from_raw_query_when_not_given(client, space, db):
    r = client.post("/clicks", json={"raw_query": "?fbclid=AbC-_d&utm_source=fb"}, headers=bearer(space))
    row = db.execute("SELECT fbclid, fbc FROM clicks WHERE uid = %s", (r.json["uid"],)).fetchone()
    assert row["fbclid"] == "AbC-_d" and row["fbc"].endswith(".AbC-_d")


def test_it_stores_optional_matching_fields(client, space, db):
    r = client.post("/clicks", json={"client_ip": "203.0.113.9", "user_agent": "Mozilla/5.0", "country": "de",
                                     "fbp": "fb.1.1700000000000.123"}, headers=bearer(space))
    row = db.execute("SELECT host(client_ip) AS ip, user_agent, country, fbp FROM clicks WHERE uid = %s",
                     (r.json["uid"],)).fetchone()
    assert row == {"ip": "203.0.113.9", "user_agent": "Mozilla/5.0", "country": "DE", "fbp": "fb.1.1700000000000.123"}


def test_it_rejects_bad_fields_without_writing(client, space, db):
    for body in ({"client_ip": "not-an-ip"}, {"country": "Germany"}, {"fbclid": 5}, {"unknown": "x"},
                 {"campaign_name": "x" * 600}, {"fbc": "fb.1.123.x"}, {"clicked_at_ms": 1764086400}):
        r = client.post("/clicks", json=body, headers=bearer(space))
        assert r.status_code == 400 and r.json["status"] in ("invalid_request", "invalid_time") and r.json["error"]
    assert client.post("/clicks", data="[]", headers=bearer(space)).json["status"] == "invalid_json"
    assert db.execute("SELECT count(*) AS n FROM clicks").fetchone()["n"] == 0


def test_it_needs_the_bearer_secret(client, space, db):
    assert client.post("/clicks", json={}).status_code == 401
    assert client.post("/clicks", json={}, headers={"Authorization": f"Bearer {space['ingest']}"}).status_code == 401
    assert db.execute("SELECT count(*) AS n FROM clicks").fetchone()["n"] == 0
