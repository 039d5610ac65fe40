"""GET /<slug>: the click it records, the page or redirect it answers, and the contact it emits."""
import json
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from bs4 import BeautifulSoup

from tests.landing.landing_helpers import BROWSER_UA, clicks, make_link, open_landing

START_RE = re.compile(r"^https://t\.me/xt_funnel_bot\?start=fb_([A-Za-z0-9_-]{1,61})$")


def deep_link(response) -> str:
    page = BeautifulSoup(response.data, "html.parser")
    return page.select_one("a#open")["href"]


def test_it_records_a_click_and_opens_the_bot_deep_link_with_its_uid(app, client, space, db):
    link = make_link(app, space, "promo")
    r = open_landing(client, "/promo")
    assert r.status_code == 200
    assert r.headers["Cache-Control"] == "no-store"
    href = deep_link(r)
    uid = START_RE.match(href).group(1)
    assert len("fb_" + uid) <= 64
    assert json.dumps(href) in r.get_data(as_text=True)  # the script opens the same link at once
    [click] = clicks(db)
    assert click["uid"] == uid and click["space_id"] == space["id"]
    assert click["link_id"] == link.id and click["link_slug"] == "promo" and click["source"] == "landing"
    journey = db.execute("SELECT clicked_at, contact_at FROM journeys WHERE uid = %s", (uid,)).fetchone()
    assert journey["clicked_at"] is not None and journey["contact_at"] is not None


def test_it_keeps_fbclid_byte_for_byte_in_fbclid_and_fbc(app, client, space, db, clock):
    make_link(app, space, "promo")
    fbclid = "IwAR3x-_Ab9ZzQ_mixed-CASE_09azAZ-_-"
    open_landing(client, f"/promo?fbclid={fbclid}&utm_source=fb")
    [click] = clicks(db)
    assert click["fbclid"] == fbclid
    assert click["fbc"] == f"fb.1.{int(clock.now.timestamp() * 1000)}.{fbclid}"


def test_it_stores_campaign_parameters_referrer_agent_address_and_raw_query(app, client, space, db):
    make_link(app, space, "promo")
    query = ("utm_source=facebook&utm_medium=paid&utm_campaign=Spring%20Sale&utm_content=v2&utm_term=dice"
             "&campaign_name=Spring&campaign_id=120200&adset_name=Broad%2025-45&adset_id=120201"
             "&ad_name=Video%203&ad_id=120202&extra=1")
    client.set_cookie("_fbp", "fb.1.1700000000000.123456")
    open_landing(client, "/promo?" + query, Referer="https://m.facebook.com/")
    [click] = clicks(db)
    assert {k: click[k] for k in ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term",
                                  "campaign_name", "campaign_id", "adset_name", "adset_id", "ad_name", "ad_id")} == {
        "utm_source": "facebook", "utm_medium": "paid", "utm_campaign": "Spring Sale", "utm_content": "v2",
        "utm_term": "dice", "campaign_name": "Spring", "campaign_id": "120200", "adset_name": "Broad 25-45",
        "adset_id": "120201", "ad_name": "Video 3", "ad_id": "120202"}
    assert click["raw_query"] == query
    assert click["referrer"] == "https://m.facebook.com/"
    assert click["user_agent"] == BROWSER_UA
    assert click["fbp"] == "fb.1.1700000000000.123456"
    assert click["client_ip"] == "127.0.0.1"
    assert click["country"] is None


def test_it_fills_missing_campaign_fields_from_the_link_defaults(app, client, space, db):
    make_link(app, space, "promo", campaign_defaults={"utm_source": "facebook", "utm_campaign": "default"})
    open_landing(client, "/promo?utm_campaign=from-url")
    [click] = clicks(db)
    assert (click["utm_source"], click["utm_campaign"]) == ("facebook", "from-url")


def test_it_emits_one_contact_event_on_the_live_feed(app, client, space, db, redis):
    make_link(app, space, "promo")
    pubsub = redis.pubsub()
    pubsub.subscribe(f"xt:space:{space['id']}:feed")
    pubsub.get_message(timeout=1)
    href = deep_link(open_landing(client, "/promo"))
    uid = START_RE.match(href).group(1)
    message = pubsub.get_message(timeout=2)
    pubsub.close()
    body = json.loads(message["data"])
    assert body["type"] == "event" and body["event"] == "contact" and body["uid"] == uid and body["eid"] == uid
    event = db.execute("SELECT event, uid, eid, source FROM events").fetchone()
    assert event == {"event": "contact", "uid": uid, "eid": uid, "source": "landing"}


def test_a_contact_later_sent_with_the_uid_as_eid_is_a_duplicate(app, client, space, db):
    from tests.conftest import bearer
    make_link(app, space, "promo")
    uid = START_RE.match(deep_link(open_landing(client, "/promo"))).group(1)
    r = client.post("/events", json={"event": "contact", "uid": uid, "eid": uid}, headers=bearer(space))
    assert r.json["status"] == "duplicate"
    assert db.execute("SELECT event_count FROM journeys WHERE uid = %s", (uid,)).fetchone()["event_count"] == 1


def test_a_link_can_be_set_to_emit_no_contact(app, client, space, db):
    make_link(app, space, "quiet", emit_contact=False)
    open_landing(client, "/quiet")
    assert len(clicks(db)) == 1
    assert db.execute("SELECT count(*) AS n FROM events").fetchone()["n"] == 0


def test_a_redirect_link_answers_a_plain_302(app, client, space, db):
    make_link(app, space, "go", mode="redirect")
    r = open_landing(client, "/go")
    assert r.status_code == 302
    uid = START_RE.match(r.headers["Location"]).group(1)
    assert clicks(db)[0]["uid"] == uid


def test_a_web_link_puts_the_uid_into_its_macro_or_an_added_parameter(app, client, space, db):
    make_link(app, space, "web1", kind="web", target="https://shop.example/start/{uid}?ref=ads")
    make_link(app, space, "web2", kind="web", target="https://shop.example/land?ref=ads#top")
    first = deep_link(open_landing(client, "/web1"))
    second = deep_link(open_landing(client, "/web2"))
    uids = {c["link_slug"]: c["uid"] for c in clicks(db)}
    assert first == f"https://shop.example/start/{uids['web1']}?ref=ads"
    parts = urlsplit(second)
    assert parse_qs(parts.query) == {"ref": ["ads"], "uid": [uids["web2"]]} and parts.fragment == "top"


def test_a_channel_link_opens_the_public_channel(app, client, space, db):
    make_link(app, space, "chan", kind="channel", target="@xt_news")
    assert deep_link(open_landing(client, "/chan")) == "https://t.me/xt_news"
    assert len(clicks(db)) == 1


def test_an_unknown_slug_is_a_plain_404_page_and_records_nothing(app, client, space, db):
    make_link(app, space, "promo")
    r = open_landing(client, "/nope")
    assert r.status_code == 404 and r.mimetype == "text/html"
    assert BeautifulSoup(r.data, "html.parser").select_one("#not-found") is not None
    assert clicks(db) == []


@pytest.mark.parametrize("ua", [
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "TelegramBot (like TwitterBot)",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "WhatsApp/2.23.20.0",
    "curl/8.5.0",
    "",
])
def test_bots_and_link_previews_get_the_page_but_mint_nothing(app, client, space, db, ua):
    make_link(app, space, "promo")
    r = open_landing(client, "/promo", ua=ua)
    assert r.status_code == 200
    assert deep_link(r) == "https://t.me/xt_funnel_bot"
    assert "Set-Cookie" not in r.headers
    assert clicks(db) == [] and db.execute("SELECT count(*) AS n FROM events").fetchone()["n"] == 0


def test_a_repeat_visit_within_the_window_reuses_the_uid(app, client, space, db, clock):
    make_link(app, space, "promo")
    first = START_RE.match(deep_link(open_landing(client, "/promo"))).group(1)
    clock.advance(minutes=29)
    again = START_RE.match(deep_link(open_landing(client, "/promo?fbclid=other"))).group(1)
    assert again == first
    assert len(clicks(db)) == 1
    clock.advance(minutes=2)
    later = START_RE.match(deep_link(open_landing(client, "/promo"))).group(1)
    assert later != first and len(clicks(db)) == 2


def test_the_reuse_cookie_is_per_link_and_cannot_be_forged(app, client, space, db):
    make_link(app, space, "one")
    make_link(app, space, "two")
    first = START_RE.match(deep_link(open_landing(client, "/one"))).group(1)
    second = START_RE.match(deep_link(open_landing(client, "/two"))).group(1)
    assert first != second
    cookie = client.get_cookie("xt_uid", path="/one")
    uid, issued, _ = cookie.value.split(".")
    client.set_cookie("xt_uid", f"attacker.{issued}.AAAAAAAAAAAAAAAAAAAAAA", path="/one")
    forged = START_RE.match(deep_link(open_landing(client, "/one"))).group(1)
    assert forged not in (first, "attacker")
    assert len(clicks(db)) == 3


def test_reuse_can_be_switched_off(servers, clock, space, db):
    from app import close_app, create_app
    from tests.conftest import settings
    quiet = create_app(settings(servers, CLOCK=clock, CLICK_REUSE_MINUTES=0))
    try:
        make_link(quiet, space, "promo")
        client = quiet.test_client()
        open_landing(client, "/promo")
        r = open_landing(client, "/promo")
        assert "Set-Cookie" not in r.headers
        assert len(clicks(db)) == 2
    finally:
        close_app(quiet)


def test_other_routes_keep_their_method_errors(client):
    r = client.get("/events", headers={"User-Agent": BROWSER_UA})
    assert r.status_code == 405 and r.json["status"] == "method_not_allowed"


def test_head_requests_and_prefetches_mint_nothing(app, client, space, db):
    make_link(app, space, "promo")
    assert client.head("/promo", headers={"User-Agent": BROWSER_UA}).status_code == 200
    r = open_landing(client, "/promo", **{"Sec-Purpose": "prefetch;prerender"})
    assert deep_link(r) == "https://t.me/xt_funnel_bot"
    assert clicks(db) == []
