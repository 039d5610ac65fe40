"""Landings and real-world input: prefetch signals, client addresses as proxies write them, long ad URLs."""
import httpx
import pytest
from bs4 import BeautifulSoup

from app.lib import proxies
from tests.landing.landing_helpers import BROWSER_UA, clicks, make_link, open_landing


def deep_link(response) -> str:
    return BeautifulSoup(response.data, "html.parser").select_one("a#open")["href"]


# 3. Prefetches --------------------------------------------------------------------------------------

@pytest.mark.parametrize("headers", [
    {"X-Purpose": "preview"},
    {"X-Purpose": "preview", "X-FB-HTTP-Engine": "Liger"},
    {"x-purpose": "Preview"},
    {"X-Purpose": "instant"},
    {"Purpose": "prefetch"},
    {"Purpose": "preview"},
    {"Sec-Purpose": "prefetch"},
    {"Sec-Purpose": "prefetch;prerender"},
    {"Sec-Purpose": "prefetch;anonymous-client-ip"},
    {"X-Moz": "prefetch"},
    {"Sec-Speculation-Tags": "null"},
])
def test_every_prefetch_signal_gets_the_page_and_mints_nothing(app, client, space, db, headers):
    make_link(app, space, "promo")
    r = open_landing(client, "/promo", **headers)
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    assert deep_link(r) == "https://t.me/xt_funnel_bot"
    assert clicks(db) == []
    assert db.execute("SELECT count(*) AS n FROM events").fetchone()["n"] == 0
    assert db.execute("SELECT count(*) AS n FROM deliveries").fetchone()["n"] == 0


def test_the_in_app_browsers_real_tap_is_a_click(app, client, space, db):
    make_link(app, space, "promo")
    r = open_landing(client, "/promo", **{"X-FB-HTTP-Engine": "Liger", "Sec-Fetch-Dest": "document"})
    assert deep_link(r).startswith("https://t.me/xt_funnel_bot?start=fb_")
    assert len(clicks(db)) == 1


# 4. Client addresses ----------------------------------------------------------------------------------

@pytest.mark.parametrize("headers, stored", [
    ({"X-Forwarded-For": "203.0.113.7:52311"}, "203.0.113.7"),
    ({"X-Forwarded-For": "[2001:DB8::7]:443"}, "2001:db8::7"),
    ({"X-Forwarded-For": "\"[2001:db8::7]:4711\""}, "2001:db8::7"),
    ({"X-Forwarded-For": "::ffff:198.51.100.4"}, "198.51.100.4"),
    ({"X-Forwarded-For": "198.51.100.4, 127.0.0.1:8080"}, "198.51.100.4"),
    ({"X-Forwarded-For": "fe80::1%eth0"}, "fe80::1"),
    ({"CF-Connecting-IP": "203.0.113.9:1234"}, "203.0.113.9"),
    ({"CF-Connecting-IP": "::FFFF:C633:6404"}, "198.51.100.4"),
    ({"X-Forwarded-For": "unknown"}, "127.0.0.1"),
])
def test_the_visitors_address_is_one_canonical_form_whatever_the_proxy_wrote(app, client, space, db, headers, stored):
    make_link(app, space, "promo")
    assert open_landing(client, "/promo", **headers).status_code == 200
    assert clicks(db)[0]["client_ip"] == stored


@pytest.mark.parametrize("peer, stored", [("fe80::1%eth0", "fe80::1"), ("::ffff:203.0.113.5", "203.0.113.5")])
def test_a_peer_with_a_zone_id_or_ipv4_mapped_form_is_stored_not_a_500(app, client, space, db, peer, stored):
    make_link(app, space, "promo")
    r = client.get("/promo", headers={"User-Agent": BROWSER_UA}, environ_base={"REMOTE_ADDR": peer})
    assert r.status_code == 200
    assert clicks(db)[0]["client_ip"] == stored


def test_the_landing_and_post_clicks_store_the_same_visitor_as_the_same_address(app, client, space, db):
    from tests.conftest import bearer
    make_link(app, space, "promo")
    open_landing(client, "/promo", **{"X-Forwarded-For": "::ffff:198.51.100.4"})
    client.post("/clicks", json={"client_ip": "::ffff:198.51.100.4"}, headers=bearer(space))
    assert {c["client_ip"] for c in clicks(db)} == {"198.51.100.4"}


def test_trusted_proxies_are_recognised_in_any_written_form():
    trusted = proxies.TrustedProxies(proxies.parse_networks("10.0.0.0/8,2001:db8::/32"))
    for raw in ("10.1.2.3", "10.1.2.3:80", "[2001:DB8::5]:443", "::ffff:10.9.9.9", "2001:db8::5%eth1"):
        assert trusted.trusts(raw), raw
    assert not trusted.trusts("11.0.0.1:80") and not trusted.trusts("garbage")


# 5. Long ad URLs ----------------------------------------------------------------------------------------

def _long_query(characters: int) -> str:
    fbclid = "IwAR" + "x" * 200
    query = f"fbclid={fbclid}&utm_source=facebook&utm_campaign=spring"
    n = 0
    while len(query) < characters:
        query += f"&placement_{n}=" + "p" * 60
        n += 1
    return query[:characters]


def test_a_4101_character_query_is_a_click_and_its_cut_query_is_flagged(app, client, space, db):
    make_link(app, space, "promo")
    query = _long_query(4101)
    r = open_landing(client, "/promo?" + query)
    assert deep_link(r).startswith("https://t.me/xt_funnel_bot?start=fb_")
    row = db.execute("SELECT raw_query, flags, fbclid, utm_campaign FROM clicks").fetchone()
    assert row["raw_query"] == query and row["flags"] == []
    assert row["fbclid"].startswith("IwAR") and row["utm_campaign"] == "spring"


def test_a_query_beyond_what_a_click_keeps_is_cut_at_a_whole_parameter_and_flagged(app, client, space, db):
    make_link(app, space, "promo")
    query = _long_query(20_000)
    open_landing(client, "/promo?" + query + "&utm_content=" + "c" * 600)
    row = db.execute("SELECT raw_query, flags, utm_campaign, utm_content FROM clicks").fetchone()
    assert row["flags"] == ["utm_content_too_long", "raw_query_cut"]
    assert len(row["raw_query"]) <= 8192 and query.startswith(row["raw_query"] + "&")
    assert row["utm_campaign"] == "spring" and row["utm_content"] is None


def test_a_long_fbclid_is_dropped_not_cut_and_flagged(app, client, space, db):
    make_link(app, space, "promo")
    open_landing(client, "/promo?fbclid=" + "F" * 501)
    row = db.execute("SELECT fbclid, fbc, flags FROM clicks").fetchone()
    assert row == {"fbclid": None, "fbc": None, "flags": ["fbclid_too_long"]}


@pytest.mark.parametrize("characters", [4101, 16_384, 30_000])
def test_gunicorn_accepts_the_urls_ad_platforms_produce(app, space, db, live_server, characters):
    slug = f"long{characters}"
    make_link(app, space, slug)
    query = _long_query(characters)
    r = httpx.get(f"{live_server.url}/{slug}?{query}",
                  headers={"User-Agent": BROWSER_UA, "Referer": f"https://m.facebook.com/?{query[:16_000]}"},
                  timeout=10)
    assert r.status_code == 200
    assert "start=fb_" in r.text
    row = db.execute("SELECT raw_query, flags FROM clicks WHERE link_slug = %s", (slug,)).fetchone()
    assert row["flags"] == (["raw_query_cut"] if characters > 8192 else []) + ["referrer_cut"]
    assert query.startswith(row["raw_query"])
