"""The landing while Postgres is unreachable: visitors are never shown an error they cannot act on."""
from bs4 import BeautifulSoup

from app import close_app, create_app, services
from tests.conftest import settings
from tests.landing.landing_helpers import clicks, make_link, open_landing


def test_a_known_link_still_sends_the_visitor_on_without_a_uid(app, client, space, db):
    make_link(app, space, "promo")
    open_landing(client, "/promo")  # the link is now in the process's cache
    services.of(app).pool.close()
    r = open_landing(app.test_client(), "/promo")
    assert r.status_code == 200
    assert BeautifulSoup(r.data, "html.parser").select_one("a#open")["href"] == "https://t.me/xt_funnel_bot"
    assert "Set-Cookie" not in r.headers
    assert len(clicks(db)) == 1


def test_a_link_that_cannot_be_looked_up_is_a_plain_503_page(servers, tmp_path):
    broken = create_app(settings(servers, DATABASE_URL=f"postgresql://postgres@/nothing_test?host={tmp_path}",
                                 DB_POOL_TIMEOUT=0.5))
    try:
        r = open_landing(broken.test_client(), "/promo")
        assert r.status_code == 503 and r.headers["Retry-After"] == "5" and r.mimetype == "text/html"
        assert BeautifulSoup(r.data, "html.parser").select_one("#unavailable") is not None
    finally:
        close_app(broken)


def test_a_custom_domain_that_cannot_be_looked_up_is_a_plain_503_page(servers, tmp_path):
    broken = create_app(settings(servers, DATABASE_URL=f"postgresql://postgres@/nothing_test?host={tmp_path}",
                                 DB_POOL_TIMEOUT=0.5))
    try:
        r = open_landing(broken.test_client(), "/promo", Host="go.alice.example")
        assert r.status_code == 503 and r.mimetype == "text/html"
    finally:
        close_app(broken)
