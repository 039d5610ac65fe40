"""Rate limits: ingress per credential, wrong credentials per address, landings, sign-in forms; fail open."""
import pytest

from app import close_app, config, create_app
from tests.conftest import bearer, settings
from tests.dashboard.conftest import html, login_form_token
from tests.landing.landing_helpers import BROWSER_UA, make_link

EVENT = {"uid": "u1", "event": "contact"}


@pytest.fixture
def limited(servers, clock):
    """make(**limits) → an app with those rate-limit settings (closed after the test)."""
    made = []

    def make(**overrides):
        application = create_app(settings(servers, CLOCK=clock, **overrides))
        application.config["TESTING"] = True
        made.append(application)
        return application
    yield make
    for application in made:
        close_app(application)


def event(n: int) -> dict:
    return {**EVENT, "eid": f"e{n}"}


def test_ingress_is_limited_per_credential_with_429_and_retry_after(limited, space, other_space):
    client = limited(INGEST_RATE_LIMIT="3/minute").test_client()
    for n in range(3):
        assert client.post("/events", json=event(n), headers=bearer(space)).status_code == 200
    refused = client.post("/events", json=event(9), headers=bearer(space))
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.json == {"ok": False, "status": "rate_limited", "error": "too many requests for this credential",
                            "retry_after": int(refused.headers["Retry-After"])}
    # The ingest token is another credential; another space's bearer has its own count.
    assert client.get(f"/e?token={space['ingest']}&event=contact&uid=u2").status_code == 200
    assert client.post("/events", json=event(1), headers=bearer(other_space)).status_code == 200


def test_a_refused_request_records_nothing(limited, space, db):
    client = limited(INGEST_RATE_LIMIT="1/minute").test_client()
    client.post("/events", json=event(1), headers=bearer(space))
    assert client.post("/events", json=event(2), headers=bearer(space)).status_code == 429
    assert db.execute("SELECT count(*) AS n FROM events").fetchone()["n"] == 1


def test_wrong_credentials_are_refused_per_address_without_slowing_the_valid_one(limited, space):
    client = limited(AUTH_FAILURE_RATE_LIMIT="5/minute").test_client()
    assert client.post("/events", json=event(0), headers=bearer(space)).status_code == 200
    statuses = [client.post("/events", json=event(1), headers={"Authorization": f"Bearer xtb_{n:043d}"}).status_code
                for n in range(8)]
    assert statuses == [401] * 5 + [429] * 3
    assert client.get("/e?token=xti_nonsense&event=contact").status_code == 429
    # The valid credential behind the same address keeps working.
    assert client.post("/events", json=event(2), headers=bearer(space)).status_code == 200
    # Another client address is not affected.
    other = client.post("/events", json=event(3), headers={"Authorization": "Bearer xtb_wrong",
                                                           "X-Forwarded-For": "203.0.113.5"})
    assert other.status_code == 401


def test_limits_fail_open_when_redis_is_down(limited, servers, space, db):
    app = limited(INGEST_RATE_LIMIT="2/minute", LANDING_RATE_LIMIT="1/minute", AUTH_FAILURE_RATE_LIMIT="1/minute")
    make_link(app, space, "promo")
    client = app.test_client()
    servers.stop_redis()
    try:
        answers = [client.post("/events", json=event(n), headers=bearer(space)) for n in range(6)]
        assert [a.status_code for a in answers] == [200] * 6
        assert {a.json["status"] for a in answers} == {"queued"}
        assert [client.post("/events", json=event(1), headers={"Authorization": "Bearer xtb_x"}).status_code
                for _ in range(3)] == [401] * 3
        landings = [client.get("/promo", headers={"User-Agent": BROWSER_UA}) for _ in range(3)]
        assert all(r.status_code == 200 and "fb_" in r.get_data(as_text=True) for r in landings)
    finally:
        servers.start_redis()
    assert db.execute("SELECT count(*) AS n FROM events WHERE event = 'contact' AND uid = 'u1'").fetchone()["n"] == 6


def test_landings_are_limited_per_address_and_link_and_the_visitor_still_goes_on(limited, space, db):
    app = limited(LANDING_RATE_LIMIT="2/minute")
    make_link(app, space, "promo")
    make_link(app, space, "other")
    client = app.test_client()
    browser = {"User-Agent": BROWSER_UA, "X-Forwarded-For": "198.51.100.9"}
    # Each visit is a new browser (no reuse cookie), as a flood of anonymous hits is.
    pages = [app.test_client().get("/promo", headers=browser).get_data(as_text=True) for _ in range(4)]
    assert ["fb_" in p for p in pages] == [True, True, False, False]
    assert all("t.me/xt_funnel_bot" in p for p in pages)
    assert db.execute("SELECT count(*) AS n FROM clicks").fetchone()["n"] == 2
    # Another link, or another address, counts separately.
    assert "fb_" in client.get("/other", headers=browser).get_data(as_text=True)
    elsewhere = {"User-Agent": BROWSER_UA, "X-Forwarded-For": "198.51.100.10"}
    assert "fb_" in client.get("/promo", headers=elsewhere).get_data(as_text=True)
    # Bots mint nothing and are not counted.
    assert client.get("/promo", headers={"User-Agent": "TelegramBot (like TwitterBot)",
                                         "X-Forwarded-For": "198.51.100.11"}).status_code == 200
    assert db.execute("SELECT count(*) AS n FROM clicks").fetchone()["n"] == 4


def test_sign_in_posts_are_limited_per_address(limited, space):
    client = limited(LOGIN_RATE_LIMIT="2/minute").test_client()
    for _ in range(2):
        token = login_form_token(client)
        assert client.post("/login", data={"email": "a@example.com", "password": "x" * 12,
                                           "csrf_token": token}).status_code == 401
    token = login_form_token(client)
    refused = client.post("/login", data={"email": "a@example.com", "password": "x" * 12, "csrf_token": token})
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    assert "Too many sign-in attempts" in html(refused).select_one("#login-error").text
    # The form itself still loads (GET is not limited).
    assert client.get("/login").status_code == 200


def test_off_disables_a_limit(limited, space):
    assert next(s for s in config.SETTINGS if s.name == "INGEST_RATE_LIMIT").parse("off") == ""
    client = limited(INGEST_RATE_LIMIT="").test_client()
    assert all(client.post("/events", json=event(n), headers=bearer(space)).status_code == 200 for n in range(5))


def test_wrong_credentials_cost_at_most_one_lookup_per_secret(app, client, space, monkeypatch):
    from app.auth import store as auth_store
    lookups = []
    real = auth_store.find_key
    monkeypatch.setattr(auth_store, "find_key", lambda conn, secret: lookups.append(secret) or real(conn, secret))
    unknown = "xtb_" + "u" * 43
    for _ in range(5):
        assert client.post("/events", json=event(1), headers={"Authorization": f"Bearer {unknown}"}).status_code == 401
    for malformed in ("xtb_short", "nonsense", "xtb_" + "!" * 43):
        assert client.post("/events", json=event(1), headers={"Authorization": f"Bearer {malformed}"}).status_code == 401
    assert lookups == [unknown]
    # The flood of unknown secrets never evicts the verified one.
    for _ in range(3):
        assert client.post("/events", json=event(2), headers=bearer(space)).status_code == 200
    assert lookups == [unknown, space["bearer"]]


def test_a_request_under_its_limit_costs_no_redis_round_trip(limited, space, redis, monkeypatch):
    from app.auth import counters
    monkeypatch.setattr(counters, "SYNC_SECONDS", 3600)  # no background sync during the test
    app = limited(INGEST_RATE_LIMIT="10000/minute", AUTH_FAILURE_RATE_LIMIT="300/minute")
    client = app.test_client()
    redis.config_resetstat()
    assert all(client.post("/events", json=event(n), headers=bearer(space)).status_code == 200 for n in range(30))
    counting = sum(stats["calls"] for name, stats in redis.info("commandstats").items()
                   if name in ("cmdstat_evalsha", "cmdstat_eval", "cmdstat_incr", "cmdstat_incrby", "cmdstat_get"))
    assert counting == 0
    # The hits are sent in one batch; the total is in Redis for every other process.
    from app import services
    services.of(app).counters.sync()
    assert sum(int(redis.get(k)) for k in redis.scan_iter("xt:rl:ingress:*")) == 30


def test_the_limit_holds_across_processes(limited, space, redis, monkeypatch):
    from app.auth import counters
    monkeypatch.setattr(counters, "SYNC_SECONDS", 3600)  # only the requests themselves ask Redis
    apps = [limited(INGEST_RATE_LIMIT="32/minute").test_client() for _ in range(2)]
    statuses = [apps[n % 2].post("/events", json=event(n), headers=bearer(space)).status_code for n in range(80)]
    # Each process may admit its share (32/16 = 2) unsent beyond what the other has sent.
    assert 32 <= statuses.count(200) <= 34
    assert statuses[-10:] == [429] * 10
