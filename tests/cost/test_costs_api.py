"""POST /costs and GET /costs: one or a list, idempotent replace per (date, scope), per-entry errors, tenancy."""
from zoneinfo import ZoneInfo

from tests.conftest import bearer
from tests.landing.landing_helpers import make_link
from tests.report.conftest import auth, report_key


def today(clock, space) -> str:
    return clock.now.astimezone(ZoneInfo(space["time_zone"])).date().isoformat()


def post(client, space, body):
    return client.post("/costs", json=body, headers=bearer(space))


def test_one_cost_is_stored_and_answered_as_stored(app, client, space, clock, db):
    make_link(app, space, "spring")
    day = today(clock, space)
    r = post(client, space, {"date": day, "link": "spring", "amount": "12.5", "currency": "usd"})
    assert r.status_code == 200, r.json
    assert r.json == {"ok": True, "status": "stored", "errors": [],
                      "stored": [{"date": day, "link": "spring", "amount": "12.50", "currency": "USD", "replaced": False}]}
    row = db.execute("SELECT amount, currency, source FROM costs WHERE space_id = %s", (space["id"],)).fetchone()
    assert (str(row["amount"]), row["currency"], row["source"]) == ("12.500000", "USD", "api")


def test_resending_the_same_date_and_scope_replaces_the_amount(client, space, clock, db):
    day = today(clock, space)
    body = [{"date": day, "campaign_id": "120200", "amount": "10", "currency": "USD"},
            {"date": day, "ad_id": "120201", "amount": "4", "currency": "EUR"}]
    assert post(client, space, body).json["stored"][0]["replaced"] is False
    again = post(client, space, body)
    assert again.status_code == 200 and [s["replaced"] for s in again.json["stored"]] == [True, True]
    changed = post(client, space, {"date": day, "campaign_id": "120200", "amount": "11.25", "currency": "USD"})
    assert changed.json["stored"][0] == {"date": day, "campaign_id": "120200", "amount": "11.25", "currency": "USD",
                                         "replaced": True}
    rows = db.execute("SELECT scope, scope_id, amount FROM costs WHERE space_id = %s ORDER BY scope", (space["id"],)).fetchall()
    assert [(r["scope"], r["scope_id"], str(r["amount"])) for r in rows] == [
        ("ad", "120201", "4.000000"), ("campaign", "120200", "11.250000")]
    listed = client.get("/costs", query_string={"from": day, "to": day}, headers=bearer(space)).json["costs"]
    assert {(c.get("campaign_id") or c.get("ad_id"), c["amount"]) for c in listed} == {("120200", "11.25"), ("120201", "4.00")}


def test_bad_entries_are_refused_one_by_one_and_the_good_ones_stored(client, space, clock, db):
    day = today(clock, space)
    body = [
        {"date": day, "adset_id": "s1", "amount": "3", "currency": "USD"},
        {"date": "2026-02-30", "adset_id": "s1", "amount": "3", "currency": "USD"},
        {"date": day, "amount": "3", "currency": "USD"},
        {"date": day, "link": "x", "ad_id": "y", "amount": "3", "currency": "USD"},
        {"date": day, "ad_id": "a", "amount": "-1", "currency": "USD"},
        {"date": day, "ad_id": "a", "amount": "abc", "currency": "USD"},
        {"date": day, "ad_id": "a", "amount": "1", "currency": "DOLLARS"},
        {"date": day, "link": "no-such-link", "amount": "1", "currency": "USD"},
        {"date": "2999-01-01", "ad_id": "a", "amount": "1", "currency": "USD"},
        {"date": day, "ad_id": "a", "amount": "1", "currency": "USD", "note": "x"},
        "not an object",
    ]
    r = post(client, space, body)
    assert r.status_code == 207, r.json
    assert r.json["ok"] is False and r.json["status"] == "partial"
    assert [s["adset_id"] for s in r.json["stored"]] == ["s1"]
    errors = {e["index"]: e["error"] for e in r.json["errors"]}
    assert sorted(errors) == list(range(1, 11))
    assert "YYYY-MM-DD" in errors[1] and "exactly one scope" in errors[2] and "exactly one scope" in errors[3]
    assert "zero or more" in errors[4] and "number" in errors[5] and "ISO 4217" in errors[6]
    assert "no link 'no-such-link'" in errors[7] and "future" in errors[8] and "unknown field 'note'" in errors[9]
    assert db.execute("SELECT count(*) AS n FROM costs").fetchone()["n"] == 1
    nothing = post(client, space, [{"date": "x"}])
    assert nothing.status_code == 400 and nothing.json["stored"] == []
    for raw in (b"", b"{", b"42", b"[]"):
        r = client.post("/costs", data=raw, headers={**bearer(space), "Content-Type": "application/json"})
        assert r.status_code == 400 and r.json["ok"] is False


def test_it_checks_ownership_of_costs(app, client, space, other_space, clock, db):
    make_link(app, other_space, "theirs")
    day = today(clock, space)
    # A link of another space is no link of this one.
    r = post(client, space, {"date": day, "link": "theirs", "amount": "1", "currency": "USD"})
    assert r.status_code == 400 and "no link 'theirs'" in r.json["errors"][0]["error"]
    post(client, other_space, {"date": day, "link": "theirs", "amount": "9", "currency": "USD"})
    post(client, space, {"date": day, "campaign_id": "c1", "amount": "1", "currency": "USD"})
    mine = client.get("/costs", query_string={"from": day, "to": day}, headers=bearer(space)).json["costs"]
    assert [c.get("campaign_id") for c in mine] == ["c1"]
    theirs = client.get("/costs", headers=auth(report_key(app, other_space))).json["costs"]
    assert [c.get("link") for c in theirs] == ["theirs"]
    assert client.post("/costs", json={}, headers=auth("xtb_unknown")).status_code == 401
    assert client.post("/costs", json={}).status_code == 401
