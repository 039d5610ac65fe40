"""A click's country and client address: Cloudflare's headers from trusted proxies, else a MaxMind database."""
import pytest
from mmdb_writer import MMDBWriter
from netaddr import IPSet

from app import close_app, create_app
from tests.conftest import settings
from tests.landing.landing_helpers import clicks, make_link, open_landing


@pytest.fixture
def geoip_db(tmp_path):
    """A tiny MaxMind-format country database written by the test: 127.0.0.0/8 is DE, 203.0.113.0/24 is BR."""
    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoLite2-Country")
    writer.insert_network(IPSet(["127.0.0.0/8"]), {"country": {"iso_code": "DE"}})
    writer.insert_network(IPSet(["203.0.113.0/24"]), {"registered_country": {"iso_code": "BR"}})
    path = tmp_path / "country.mmdb"
    writer.to_db_file(str(path))
    return str(path)


def app_with(servers, clock, **extra):
    return create_app(settings(servers, CLOCK=clock, **extra))


def test_it_takes_the_country_from_cloudflare_when_the_proxy_is_trusted(app, client, space, db):
    make_link(app, space, "promo")
    open_landing(client, "/promo", **{"CF-IPCountry": "br", "CF-Connecting-IP": "198.51.100.7"})
    [click] = clicks(db)
    assert click["country"] == "BR" and click["client_ip"] == "198.51.100.7"


def test_unknown_and_tor_countries_from_cloudflare_are_stored_as_unknown(app, client, space, db):
    make_link(app, space, "promo")
    open_landing(client, "/promo", **{"CF-IPCountry": "XX"})
    open_landing(app.test_client(), "/promo", **{"CF-IPCountry": "T1"})
    assert [c["country"] for c in clicks(db)] == [None, None]


def test_it_ignores_cloudflare_headers_from_an_untrusted_peer(servers, clock, space, db):
    app = app_with(servers, clock, TRUSTED_PROXIES=())
    try:
        make_link(app, space, "promo")
        open_landing(app.test_client(), "/promo", **{"CF-IPCountry": "BR", "CF-Connecting-IP": "198.51.100.7",
                                                     "X-Forwarded-For": "198.51.100.8"})
        [click] = clicks(db)
        assert click["country"] is None and click["client_ip"] == "127.0.0.1"
    finally:
        close_app(app)


def test_it_looks_the_country_up_in_the_geoip_database(servers, clock, space, db, geoip_db):
    app = app_with(servers, clock, GEOIP_DB=geoip_db)
    try:
        make_link(app, space, "promo")
        open_landing(app.test_client(), "/promo")
        open_landing(app.test_client(), "/promo", **{"X-Forwarded-For": "203.0.113.9"})
        open_landing(app.test_client(), "/promo", **{"X-Forwarded-For": "192.0.2.1"})
        assert sorted((c["client_ip"], c["country"] or "") for c in clicks(db)) == [
            ("127.0.0.1", "DE"), ("192.0.2.1", ""), ("203.0.113.9", "BR")]
    finally:
        close_app(app)


def test_cloudflare_wins_over_the_geoip_database(servers, clock, space, db, geoip_db):
    app = app_with(servers, clock, GEOIP_DB=geoip_db)
    try:
        make_link(app, space, "promo")
        open_landing(app.test_client(), "/promo", **{"CF-IPCountry": "US"})
        assert clicks(db)[0]["country"] == "US"
    finally:
        close_app(app)


def test_a_geoip_db_setting_that_is_not_a_maxmind_database_stops_start_up(tmp_path):
    from app.config import ConfigError, load
    junk = tmp_path / "junk.mmdb"
    junk.write_bytes(b"not a database")
    base = {"DATABASE_URL": "postgresql://x/y", "REDIS_URL": "redis://x", "SECRET_KEY": "k" * 40}
    for path, reason in ((str(junk), "not a MaxMind-format database"), (str(tmp_path / "absent.mmdb"), "existing")):
        with pytest.raises(ConfigError, match=reason):
            load({**base, "GEOIP_DB": path})
