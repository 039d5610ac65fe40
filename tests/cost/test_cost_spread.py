"""Costs spread over the clicks of their scope and day: cost per click / subscriber / registration / deposit,
profit and ROI in every grouping, costs no row can take in a row of their own, conversion at the day's rate."""
from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from app import db as app_db
from app.rate import store as rate_store
from tests.conftest import bearer


def today(clock, space):
    return clock.now.astimezone(ZoneInfo(space["time_zone"])).date()


def report(client, space, day, **params):
    r = client.get("/reports", query_string={"from": day.isoformat(), "to": day.isoformat(), **params},
                   headers=bearer(space))
    assert r.status_code == 200, r.json
    return r.json


def add_costs(client, space, entries):
    r = client.post("/costs", json=entries, headers=bearer(space))
    assert r.status_code == 200, r.json


def test_a_campaign_cost_is_spread_over_its_ads_by_clicks(client, space, clock, seeded):
    day = today(clock, space)
    # c1 has 9 clicks (a1, a2, a3 three each); c2 has 4 (a4).
    add_costs(client, space, [{"date": day.isoformat(), "campaign_id": "c1", "amount": "90", "currency": "USD"},
                              {"date": day.isoformat(), "link": "autumn", "amount": "8", "currency": "USD"}])
    by_ad = {r["key"]["ad"]: r for r in report(client, space, day, group_by="ad")["rows"]}
    assert {k: by_ad[k]["cost"]["amount"] for k in ("a1", "a2", "a3", "a4")} == \
        {"a1": "30.00", "a2": "30.00", "a3": "30.00", "a4": "8.00"}
    a1 = by_ad["a1"]
    assert a1["cost_per_click"] == "10.0000"
    revenue = Decimal(a1["revenue"]["amount"]) if a1["revenue"]["amount"] else None
    # a1 has EUR revenue and no EUR rate yet: revenue, profit and ROI are missing, never zero.
    assert revenue is None and a1["revenue"]["missing_rates"] == ["EUR"] and a1["profit"] is None and a1["roi"] is None
    totals = report(client, space, day, group_by="campaign")["totals"]
    assert totals["cost"]["amount"] == "98.00"


def test_profit_and_roi_follow_the_days_rate(app, client, space, clock, seeded):
    day = today(clock, space)
    with app.app_context():
        with app_db.transaction() as conn:
            rate_store.upsert_reference_rates(conn, [(day, "USD", Decimal("1.25"))], "ecb", clock.now)
            rate_store.upsert_reference_rates(conn, [(day - timedelta(days=1), "USD", Decimal("2"))], "ecb", clock.now)
    add_costs(client, space, [{"date": day.isoformat(), "ad_id": "a1", "amount": "40", "currency": "EUR"}])
    a1 = next(r for r in report(client, space, day, group_by="ad")["rows"] if r["key"]["ad"] == "a1")
    # a1: clicks 0, 4, 8 of the seed → 3 clicks, the 0th registers and deposits 20 USD + 5 EUR.
    assert a1["revenue"]["original"] == {"EUR": "5.00", "USD": "20.00"}
    assert a1["revenue"]["amount"] == "26.25"          # 20 + 5 × 1.25 (today's rate, not yesterday's 2)
    assert a1["cost"] == {"amount": "50.00", "currency": "USD", "missing_rates": [], "original": {"EUR": "40.00"}}
    assert a1["profit"] == "-23.75"
    assert a1["roi"] == round(-23.75 / 50, 6)
    assert a1["cost_per_deposit"] == "25.0000" and a1["cost_per_first_deposit"] == "50.0000"
    assert a1["cost_per_registration"] == "50.0000"


def test_costs_no_row_can_take_stay_in_the_totals(client, space, clock, seeded):
    day = today(clock, space)
    add_costs(client, space, [{"date": day.isoformat(), "campaign_id": "c1", "amount": "9", "currency": "USD"},
                              {"date": day.isoformat(), "ad_id": "never-clicked", "amount": "5", "currency": "USD"},
                              {"date": day.isoformat(), "link": "spring", "amount": "6", "currency": "USD"}])
    by_country = report(client, space, day, group_by="country")
    assert by_country["totals"]["cost"]["amount"] == "20.00"
    unsplit = [r for r in by_country["rows"] if r.get("unattributed_cost")]
    assert sum(Decimal(r["cost"]["amount"]) for r in unsplit) == Decimal("14")   # the campaign and ad costs
    by_ad = report(client, space, day, group_by="ad")
    assert by_ad["totals"]["cost"]["amount"] == "20.00"
    assert [r["cost"]["amount"] for r in by_ad["rows"] if r.get("unattributed_cost")] == ["5.00"]
    by_hour = report(client, space, day, group_by="hour")
    assert by_hour["totals"]["cost"]["amount"] == "20.00"
