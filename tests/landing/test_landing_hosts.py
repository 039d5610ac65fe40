"""Host routing: tracker hosts, verified custom domains scoped to their space, and 404 everywhere else."""
from bs4 import BeautifulSoup

from tests.conftest import bearer
from tests.landing.landing_helpers import BROWSER_UA, clicks, make_domain, make_link


def visit(client, host: str, path: str):
    return client.get(path, headers={"Host": host, "User-Agent": BROWSER_UA})


def is_plain_404(response) -> bool:
    page = BeautifulSoup(response.data, "html.parser")
    return response.status_code == 404 and page.select_one("#not-found") is not None


def test_the_tracker_hosts_serve_landings_on_any_port(app, client, space, db):
    make_link(app, space, "promo")
    assert visit(client, "localhost:8000", "/promo").status_code == 200
    assert visit(client, "127.0.0.1:5123", "/promo").status_code == 200
    assert visit(client, "LOCALHOST.", "/promo").status_code == 200
    assert len(clicks(db)) == 3


def test_an_unknown_host_gets_404_for_every_path_and_records_nothing(app, client, space, db):
    make_link(app, space, "promo")
    assert is_plain_404(visit(client, "evil.example", "/promo"))
    r = client.post("/events", json={"event": "contact", "uid": "a"}, headers={**bearer(space), "Host": "evil.example"})
    assert r.status_code == 404
    assert clicks(db) == [] and db.execute("SELECT count(*) AS n FROM events").fetchone()["n"] == 0


def test_health_probes_answer_on_any_host(client):
    assert visit(client, "10.0.0.7:8000", "/healthz").status_code == 200


def test_it_checks_ownership_a_verified_domain_serves_its_own_space_links_only(app, client, space, other_space, db):
    make_link(app, space, "alice-promo")
    make_link(app, other_space, "bob-promo")
    make_domain(app, space, "go.alice.example")
    assert visit(client, "go.alice.example", "/alice-promo").status_code == 200
    assert is_plain_404(visit(client, "go.alice.example", "/bob-promo"))
    [click] = clicks(db)
    assert click["space_id"] == space["id"] and click["link_slug"] == "alice-promo"


def test_a_custom_domain_reaches_nothing_but_landings(app, client, space):
    make_domain(app, space, "go.alice.example")
    r = client.post("/events", json={"event": "contact", "uid": "a"},
                    headers={**bearer(space), "Host": "go.alice.example"})
    assert r.status_code == 404
    assert is_plain_404(visit(client, "go.alice.example", "/bind"))


def test_an_unverified_domain_gets_404(app, client, space, db):
    make_link(app, space, "promo")
    make_domain(app, space, "go.alice.example", verified=False)
    assert is_plain_404(visit(client, "go.alice.example", "/promo"))
    assert clicks(db) == []


def test_public_url_host_is_a_tracker_host(servers, clock, space, db):
    from app import close_app, create_app
    from tests.conftest import settings
    tracker = create_app(settings(servers, CLOCK=clock, PUBLIC_URL="https://t.example.com"))
    try:
        make_link(tracker, space, "promo")
        client = tracker.test_client()
        r = visit(client, "t.example.com", "/promo")
        assert r.status_code == 200
        assert len(clicks(db)) == 1
    finally:
        close_app(tracker)
