"""POST /clicks naming a link_slug: the space's link is attached and its campaign defaults fill gaps."""
from tests.conftest import bearer
from tests.landing.landing_helpers import make_link


def click_row(db, uid):
    return db.execute("SELECT space_id, link_id, link_slug, utm_source, utm_campaign FROM clicks WHERE uid = %s",
                      (uid,)).fetchone()


def test_a_known_slug_attaches_the_link_and_its_defaults(app, client, space, db):
    link = make_link(app, space, "promo", campaign_defaults={"utm_source": "facebook", "utm_campaign": "dflt"})
    r = client.post("/clicks", json={"link_slug": "promo", "raw_query": "utm_campaign=sent"}, headers=bearer(space))
    assert r.status_code == 200
    assert click_row(db, r.json["uid"]) == {"space_id": space["id"], "link_id": link.id, "link_slug": "promo",
                                            "utm_source": "facebook", "utm_campaign": "sent"}


def test_an_unknown_slug_is_kept_as_a_label_without_a_link(client, space, db):
    r = client.post("/clicks", json={"link_slug": "made-elsewhere"}, headers=bearer(space))
    assert r.status_code == 200
    assert click_row(db, r.json["uid"])["link_id"] is None
    assert click_row(db, r.json["uid"])["link_slug"] == "made-elsewhere"


def test_it_checks_ownership_another_spaces_link_is_never_attached(app, client, space, other_space, db):
    make_link(app, other_space, "bob-promo", campaign_defaults={"utm_source": "bob"})
    r = client.post("/clicks", json={"link_slug": "bob-promo"}, headers=bearer(space))
    row = click_row(db, r.json["uid"])
    assert row["space_id"] == space["id"] and row["link_id"] is None and row["utm_source"] is None


def test_a_backfilled_raw_query_fills_the_facebook_campaign_adset_and_ad(client, space, db):
    r = client.post("/clicks", json={"raw_query": "campaign_id=1&adset_name=Broad&adset_id=2&ad_name=Video&ad_id=3"},
                    headers=bearer(space))
    row = db.execute("SELECT campaign_id, adset_name, adset_id, ad_name, ad_id FROM clicks WHERE uid = %s",
                     (r.json["uid"],)).fetchone()
    assert row == {"campaign_id": "1", "adset_name": "Broad", "adset_id": "2", "ad_name": "Video", "ad_id": "3"}
