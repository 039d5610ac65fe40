"""Report fixtures: a seeded space (clicks with campaign / ad set / ad ids, stages, repeat deposits in two
currencies, costs) sent through the real ingress API, and report-key helpers."""
from datetime import datetime, timedelta, timezone

import pytest

from app import db as app_db
from app.auth import store as auth_store
from app.conversion import store as ingress_store
from tests.conftest import bearer
from tests.dashboard.conftest import html, login, make_user, sign_in  # noqa: F401 (fixtures)


def report_key(app, space: dict, label: str = "BI") -> str:
    """Create a read-only report key for the space; return its secret."""
    with app.app_context():
        with app_db.transaction() as conn:
            return auth_store.create_report_key(conn, space["id"], label, app.config["CLOCK"]())


def auth(secret: str) -> dict:
    """Authorization header for a secret."""
    return {"Authorization": f"Bearer {secret}"}


ADS = (  # (link, campaign, adset, ad, country)
    ("spring", "c1", "s1", "a1", "DE"),
    ("spring", "c1", "s1", "a2", "BR"),
    ("spring", "c1", "s2", "a3", "DE"),
    ("autumn", "c2", "s3", "a4", "US"),
)


def click(client, space, link, campaign, adset, ad, country) -> str:
    """POST /clicks carrying the Facebook ids in its raw query; return the uid."""
    raw = f"campaign_id={campaign}&campaign_name=Camp+{campaign}&adset_id={adset}&adset_name=Set+{adset}&ad_id={ad}&ad_name=Ad+{ad}"
    r = client.post("/clicks", json={"link_slug": link, "country": country, "raw_query": raw}, headers=bearer(space))
    assert r.status_code == 200, r.json
    return r.json["uid"]


def event(client, space, **body):
    """POST /events; assert it was accepted."""
    r = client.post("/events", json=body, headers=bearer(space))
    assert r.status_code == 200, r.json
    return r.json


def seed(app, client, space, clock) -> dict:
    """A day of mixed traffic: 4 ads on 2 links, stages, repeat deposits in USD and EUR, an event before its
    click, a journey without a click. Returns {"uids": [...], "day": local day}."""
    from tests.landing.landing_helpers import make_link
    make_link(app, space, "spring")
    make_link(app, space, "autumn")
    now_ms = int(clock.now.timestamp() * 1000)
    uids = []
    for i, ad in enumerate(ADS * 3):
        uid = click(client, space, *ad)
        uids.append(uid)
        event(client, space, event="contact", uid=uid, eid=f"c{i}", occurred_at_ms=now_ms - 60_000)
        if i % 2 == 0:
            event(client, space, event="subscribed", uid=uid, eid=f"s{i}", occurred_at_ms=now_ms - 50_000)
        if i % 3 == 0:
            event(client, space, event="registration", uid=uid, eid=f"r{i}", occurred_at_ms=now_ms - 40_000)
            event(client, space, event="deposit", uid=uid, value="20.00", eid=f"d{i}", occurred_at_ms=now_ms - 30_000)
            event(client, space, event="deposit", uid=uid, value="5", currency="EUR", eid=f"d{i}b",
                  occurred_at_ms=now_ms - 20_000)
    # A deposit before its click (a landing's click written late), then the click through the click writer.
    event(client, space, event="registration", uid="late-click-uid", eid="late-r", occurred_at_ms=now_ms - 12_000)
    event(client, space, event="deposit", uid="late-click-uid", value="7", eid="late", occurred_at_ms=now_ms - 10_000)
    with app.app_context():
        with app_db.transaction() as conn:
            ingress_store.create_clicks(conn, [ingress_store.ClickIn(
                space["id"], "late-click-uid", clock.now, "api",
                {"link_slug": "autumn", "country": "US", "campaign_id": "c2", "adset_id": "s3", "ad_id": "a4"})])
    # A journey without a click.
    event(client, space, event="deposit", uid="no-click", value="3", eid="orphan", occurred_at_ms=now_ms - 5_000)
    return {"uids": uids}


@pytest.fixture
def seeded(app, client, space, clock):
    """The seeded space."""
    return seed(app, client, space, clock)
