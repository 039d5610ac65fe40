"""GET /reports: every grouping's totals equal the deck's, JSON and CSV agree, tenancy and the report key."""
import csv
import io
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from app.reporting import store as reporting
from app import db as app_db
from tests.conftest import bearer
from tests.report.conftest import auth, report_key

GROUPINGS = ["link", "campaign", "adset", "ad", "country", "day", "hour", "weekday",
             "campaign,ad", "link,campaign", "day,ad", "link,country", "link,hour", "weekday,link", "country,day"]
# Pairs spanning two narrow rollups (read from report_cross_days / report_cross_hours).
CROSS_PAIRS = ["campaign,country", "country,campaign", "adset,country", "ad,country", "country,ad",
               "campaign,hour", "hour,campaign", "adset,hour", "ad,hour", "country,hour", "hour,country"]


def day_of(clock, space) -> str:
    return clock.now.astimezone(ZoneInfo(space["time_zone"])).date().isoformat()


def deck_totals(app, space, day: str) -> dict:
    from datetime import date
    with app.app_context():
        with app_db.connection() as conn:
            reporting.fold(conn, space["id"])
            return reporting.totals(conn, space["id"], date.fromisoformat(day), date.fromisoformat(day), None)


def get(client, space, **params):
    return client.get("/reports", query_string=params, headers=bearer(space))


@pytest.mark.parametrize("group_by", GROUPINGS + CROSS_PAIRS)
def test_every_groupings_totals_equal_the_decks_figures(app, client, space, clock, seeded, group_by):
    day = day_of(clock, space)
    r = get(client, space, group_by=group_by, **{"from": day, "to": day})
    assert r.status_code == 200, r.json
    deck = deck_totals(app, space, day)
    totals = r.json["totals"]
    assert totals["clicks"] == deck["counts"]["click"]
    assert totals["contacts"] == deck["counts"]["stage:contact"]
    assert totals["subscribed"] == deck["counts"]["stage:subscribed"]
    assert totals["registrations"] == deck["counts"]["stage:registration"]
    assert totals["first_deposits"] == deck["counts"]["stage:deposit"]
    assert totals["deposits"] == deck["counts"]["event:deposit"]
    assert {c: Decimal(a) for c, a in totals["revenue"]["original"].items()} == \
        {c: amount for c, (_, amount) in deck["revenue"].items()}
    # The rows add up to the totals.
    rows = r.json["rows"]
    for key in ("clicks", "contacts", "subscribed", "registrations", "deposits", "first_deposits"):
        assert sum(row[key] for row in rows) == totals[key]
    assert r.json["group_by"] == group_by.split(",")


def test_rows_carry_the_campaign_ad_set_and_ad_names_of_the_clicks(client, space, clock, seeded):
    day = day_of(clock, space)
    rows = get(client, space, group_by="campaign,ad", **{"from": day, "to": day}).json["rows"]
    a1 = next(r for r in rows if r["key"] == {"campaign": "c1", "ad": "a1"})
    assert a1["label"] == {"campaign": "Camp c1 (c1)", "ad": "Ad a1 (a1)"}
    assert a1["clicks"] == 3
    answer = get(client, space, group_by="campaign,ad", **{"from": day, "to": day}).json
    c1 = next(s for s in answer["subtotals"] if s["key"] == {"campaign": "c1"})
    assert c1["clicks"] == sum(r["clicks"] for r in rows if r["key"]["campaign"] == "c1") == 9


def test_a_link_filter_narrows_every_figure_to_that_link(client, space, clock, seeded):
    day = day_of(clock, space)
    whole = {r["key"]["link"]: r for r in get(client, space, group_by="link", **{"from": day, "to": day}).json["rows"]}
    only = get(client, space, group_by="ad", link="spring", **{"from": day, "to": day}).json
    assert {r["key"]["ad"] for r in only["rows"]} == {"a1", "a2", "a3"}
    assert only["totals"]["clicks"] == whole["spring"]["clicks"]
    assert only["totals"]["revenue"] == whole["spring"]["revenue"]


def test_csv_and_json_agree_line_for_line(client, space, clock, seeded):
    day = day_of(clock, space)
    params = {"group_by": "campaign,ad", "from": day, "to": day}
    answer = get(client, space, **params).json
    r = get(client, space, format="csv", **params)
    assert r.status_code == 200 and r.mimetype == "text/csv"
    assert "attachment" in r.headers["Content-Disposition"]
    lines = list(csv.DictReader(io.StringIO(r.get_data(as_text=True))))
    assert len(lines) == len(answer["rows"]) + 1
    for row, line in zip(answer["rows"] + [answer["totals"]], lines):
        for key in ("clicks", "contacts", "subscribed", "registrations", "deposits", "first_deposits"):
            assert int(line[key]) == row[key]
        assert line["revenue"] == (row["revenue"]["amount"] or "missing")
        assert line["cost"] == (row["cost"]["amount"] or "missing")
        assert line["cr_contact"] == ("" if row["cr_contact"] is None else str(row["cr_contact"]))
        assert line["cost_per_deposit"] == (row["cost_per_deposit"] or "")
    assert lines[-1]["campaign"] == "(total)"


def test_a_report_key_reads_reports_and_costs_but_writes_nothing(app, client, space, clock, seeded):
    key = report_key(app, space)
    day = day_of(clock, space)
    r = client.get("/reports", query_string={"group_by": "link", "from": day, "to": day}, headers=auth(key))
    assert r.status_code == 200 and r.json["totals"]["clicks"] == 13
    assert client.get("/reports/cohorts", headers=auth(key)).status_code == 200
    assert client.get("/costs", headers=auth(key)).status_code == 200
    for path, body in (("/costs", {"date": day, "link": "spring", "amount": "1", "currency": "USD"}),
                       ("/events", {"uid": "x", "event": "contact"}), ("/clicks", {}), ("/bind", {"uid": "x", "tg_id": 1})):
        r = client.post(path, json=body, headers=auth(key))
        assert r.status_code == 401, (path, r.json)
        assert "read-only report key" in r.json["error"]
    assert client.get("/e", query_string={"token": key, "uid": "x", "event": "contact"}).status_code == 401


def test_it_checks_ownership_of_reports(app, client, space, other_space, clock, seeded):
    day = day_of(clock, space)
    theirs = get(client, other_space, group_by="link", **{"from": day, "to": day}).json
    assert theirs["space"] == other_space["slug"] and theirs["rows"] == [] and theirs["totals"]["clicks"] == 0
    key = report_key(app, other_space)
    r = client.get("/reports", query_string={"group_by": "ad", "from": day, "to": day}, headers=auth(key))
    assert r.json["totals"]["clicks"] == 0
    r = client.get("/reports/cohorts", query_string={"from": day, "to": day}, headers=auth(key))
    assert r.json["totals"]["size"] == 0 and r.json["cohorts"] == []


def test_it_refuses_bad_parameters_with_a_sentence(client, space, clock):
    cases = [({}, "group_by"), ({"group_by": "nope"}, "group_by"), ({"group_by": "a,b,c"}, "at most two"),
             ({"group_by": "ad,ad"}, "twice"), ({"group_by": "campaign", "country": "D\x01"}, "printable"),
             ({"group_by": "link", "from": "2026-13-01", "to": "2026-12-01"}, "from"),
             ({"group_by": "link", "from": "2026-02-01", "to": "2026-01-01"}, "before"),
             ({"group_by": "link", "format": "xml"}, "format")]
    for params, words in cases:
        r = get(client, space, **params)
        assert r.status_code == 400, params
        assert words in r.json["error"], (params, r.json)
    assert client.get("/reports", query_string={"group_by": "link"}).status_code == 401
    assert client.get("/reports", query_string={"group_by": "link"}, headers=auth("xtb_nope")).status_code == 401


def _figures(row: dict) -> dict:
    return {**{k: row[k] for k in ("clicks", "contacts", "subscribed", "registrations", "deposits", "first_deposits")},
            "revenue": row["revenue"]["original"]}


def _sum_figures(rows: list[dict]) -> dict:
    out = dict.fromkeys(("clicks", "contacts", "subscribed", "registrations", "deposits", "first_deposits"), 0)
    revenue: dict[str, Decimal] = {}
    for row in rows:
        for k in out:
            out[k] += row[k]
        for currency, amount in row["revenue"]["original"].items():
            revenue[currency] = revenue.get(currency, Decimal(0)) + Decimal(amount)
    return {**out, "revenue": {c: f"{a:.2f}" for c, a in sorted(revenue.items()) if a}}


def _post_costs(client, space, day: str) -> None:
    r = client.post("/costs", headers=bearer(space), json=[
        {"date": day, "campaign_id": "c1", "amount": "30.00", "currency": "USD"},
        {"date": day, "ad_id": "a4", "amount": "8.00", "currency": "USD"},
        {"date": day, "link": "spring", "amount": "6.00", "currency": "USD"}])
    assert r.status_code == 200, r.json


@pytest.mark.parametrize("pair", CROSS_PAIRS)
def test_a_pair_across_rollups_adds_up_to_both_one_level_reports(client, space, clock, seeded, pair):
    day = day_of(clock, space)
    _post_costs(client, space, day)
    first, second = pair.split(",")
    both = get(client, space, group_by=pair, **{"from": day, "to": day}).json
    outer = {row["key"][first]: row for row in get(client, space, group_by=first, **{"from": day, "to": day}).json["rows"]
             if not row.get("unattributed_cost")}
    inner = {row["key"][second]: row for row in get(client, space, group_by=second, **{"from": day, "to": day}).json["rows"]
             if not row.get("unattributed_cost")}
    pairs = [row for row in both["rows"] if not row.get("unattributed_cost")]
    # The first level's subtotals are the one-level report by that dimension …
    assert {s["key"][first]: _figures(s) for s in both["subtotals"] if not s.get("unattributed_cost")} == \
        {k: _figures(row) for k, row in outer.items()}
    # … and the rows of each second-level key add up to the one-level report by the second dimension.
    assert {k: _sum_figures([r for r in pairs if r["key"][second] == k]) for k in inner} == \
        {k: _figures(row) for k, row in inner.items()}
    # Every cost is in the totals, whatever the grouping; a cost of a campaign, ad set, ad or link is spread
    # over the pair's rows by their clicks (none is left aside as "not split").
    assert both["totals"]["cost"] == {"amount": "44.00", "currency": space["currency"], "missing_rates": [],
                                      "original": {"USD": "44.00"}}
    assert not [r for r in both["rows"] if r.get("unattributed_cost")]
    if first in ("campaign", "adset", "ad"):
        assert {s["key"][first]: s["cost"] for s in both["subtotals"]} == {k: row["cost"] for k, row in outer.items()}


def test_a_filter_from_another_rollup_narrows_a_grouping(client, space, clock, seeded):
    day = day_of(clock, space)
    by_hour = get(client, space, group_by="hour", campaign="c1", **{"from": day, "to": day}).json
    by_country = get(client, space, group_by="country", campaign="c1", **{"from": day, "to": day}).json
    campaign = get(client, space, group_by="campaign", **{"from": day, "to": day}).json
    c1 = next(r for r in campaign["rows"] if r["key"] == {"campaign": "c1"})
    assert _figures(by_hour["totals"]) == _figures(c1) == _figures(by_country["totals"])
    assert {r["key"]["country"] for r in by_country["rows"]} == {"DE", "BR"}
    by_ad = get(client, space, group_by="ad", country="DE", **{"from": day, "to": day}).json
    assert {r["key"]["ad"] for r in by_ad["rows"]} == {"a1", "a3"}
