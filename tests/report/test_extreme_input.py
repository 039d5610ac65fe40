"""Extreme but well-formed input never answers 500: days at the calendar's edge in every report range,
rates and amounts at their bounds, and the `rates set` command holding the same rule as the Costs screen."""
import json
from decimal import Decimal

import pytest

from app.report.build import money_text
from app.reporting.filters import FilterError, parse_filters
from tests.conftest import bearer
from tests.report.conftest import click, event
from tests.report.test_reports_api import day_of

EDGES = [("9999-12-30", "9999-12-31"), ("9999-12-31", "9999-12-31"), ("0001-01-01", "0001-01-02"),
         ("1999-12-31", "2000-01-01"), ("2999-12-31", "3000-01-01")]


@pytest.mark.parametrize("first,last", EDGES)
def test_a_range_at_the_calendars_edge_is_a_400_on_every_api(client, space, first, last):
    for path, extra in (("/reports", {"group_by": "link"}), ("/reports", {"group_by": "campaign,day"}),
                        ("/reports/cohorts", {}), ("/costs", {})):
        r = client.get(path, query_string={**extra, "from": first, "to": last}, headers=bearer(space))
        assert r.status_code == 400, (path, first, last, r.status_code)
        assert r.json["status"] == "invalid_request" and "2000-01-01" in r.json["error"], r.json


def test_the_last_day_allowed_still_answers(client, space):
    r = client.get("/reports", query_string={"group_by": "day", "from": "2999-12-30", "to": "2999-12-31"},
                   headers=bearer(space))
    assert r.status_code == 200, r.json


@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "Pacific/Pago_Pago", "UTC"])
def test_filters_at_the_latest_day_hold_in_every_zone(zone):
    from datetime import datetime, timezone
    now = datetime(2026, 12, 1, tzinfo=timezone.utc)
    filters = parse_filters({"range": "custom", "from": "2999-12-31", "to": "2999-12-31"}, zone, now)
    assert filters.end > filters.start
    with pytest.raises(FilterError):
        parse_filters({"range": "custom", "from": "9999-12-31", "to": "9999-12-31"}, zone, now)


def test_money_text_never_runs_out_of_digits():
    huge = Decimal("999999999999999999.999999") * Decimal("999999999999") * 1000
    assert money_text(huge).endswith(".00") and len(money_text(huge)) > 30
    assert money_text(Decimal("1e-30"), Decimal("0.0001")) == "0.0000"
    assert money_text(Decimal("12.345")) == "12.35" and money_text(None) is None


def test_rates_set_holds_the_screens_rule(app, space, clock):
    runner = app.test_cli_runner()
    today = day_of(clock, space)
    for rate, words in (("1e999", "below"), ("NaN", "more than zero"), ("Infinity", "more than zero"),
                        ("0", "more than zero"), ("0.0", "more than zero"), ("abc", "number"),
                        ("0.00000000001", "decimals")):
        result = runner.invoke(args=["rates", "set", space["slug"], today, "EUR", rate, "--json"])
        answer = json.loads(result.output)
        assert result.exit_code == 1 and answer["ok"] is False and words in answer["error"], (rate, answer)
    result = runner.invoke(args=["rates", "set", space["slug"], "9999-12-31", "EUR", "1.1", "--json"])
    assert result.exit_code == 1 and "future" in json.loads(result.output)["error"]
    result = runner.invoke(args=["rates", "set", space["slug"], today, "EUR", "1,250.5", "--json"])
    assert result.exit_code == 0 and json.loads(result.output)["rate"] == "1250.5"


def test_the_largest_deposits_at_the_largest_rate_still_report(app, client, space, clock):
    from tests.landing.landing_helpers import make_link
    make_link(app, space, "spring")
    uid = click(client, space, "spring", "c1", "s1", "a1", "DE")
    for n in range(3):
        event(client, space, event="deposit", uid=uid, eid=f"big{n}", value="999999999999999999.999999",
              currency="EUR")
    today = day_of(clock, space)
    result = app.test_cli_runner().invoke(args=["rates", "set", space["slug"], today, "EUR", "999999999999",
                                                "--json"])
    assert result.exit_code == 0, result.output
    for path, extra in (("/reports", {"group_by": "ad"}), ("/reports", {"group_by": "link", "format": "csv"}),
                        ("/reports/cohorts", {})):
        r = client.get(path, query_string={**extra, "from": today, "to": today}, headers=bearer(space))
        assert r.status_code == 200, (path, r.status_code, r.get_data(as_text=True)[:300])


@pytest.mark.parametrize("digits", ["١٢", "１２", "۱۲", "१२", "12\u0663"])
def test_numbers_are_read_from_ascii_digits_only(app, client, space, clock, digits):
    r = client.post("/events", json={"event": "deposit", "eid": "d-" + digits, "uid": "x" * 22, "value": digits},
                    headers=bearer(space))
    assert r.status_code == 400 and r.json["status"] == "invalid_value", r.json
    r = client.get("/e", query_string={"event": "deposit", "eid": "g-" + digits, "value": digits,
                                       "token": space["ingest"]})
    assert r.status_code == 400, r.get_data(as_text=True)[:200]
    r = client.post("/costs", json={"date": day_of(clock, space), "link": "spring", "amount": digits,
                                    "currency": "USD"}, headers=bearer(space))
    assert r.status_code == 400 and "ASCII" in json.dumps(r.json), r.json
    result = app.test_cli_runner().invoke(args=["rates", "set", space["slug"], day_of(clock, space), "EUR", digits,
                                                "--json"])
    assert result.exit_code == 1 and "ASCII" in json.loads(result.output)["error"]


def test_a_country_filter_is_a_two_letter_code_in_either_case(app, client, space, clock):
    from tests.landing.landing_helpers import make_link
    make_link(app, space, "spring")
    click(client, space, "spring", "c1", "s1", "a1", "DE")
    today = day_of(clock, space)
    base = {"group_by": "ad", "from": today, "to": today}
    upper = client.get("/reports", query_string={**base, "country": "DE"}, headers=bearer(space)).json
    lower = client.get("/reports", query_string={**base, "country": "de"}, headers=bearer(space)).json
    assert upper["totals"]["clicks"] == lower["totals"]["clicks"] == 1
    for params, words in (({"country": "germany"}, "two-letter"), ({"country": "D1"}, "two-letter"),
                          ({"sort": "bogus"}, "`sort`"), ({"dir": "sideways"}, "`dir`")):
        r = client.get("/reports", query_string={**base, **params}, headers=bearer(space))
        assert r.status_code == 400 and words in r.json["error"], (params, r.json)


@pytest.mark.parametrize("body,words", [
    ({"event": "contact", "uid": 123}, "not the number 123"),
    ({"event": "contact", "uid": ["a"]}, "not a list"),
    ({"event": "deposit", "uid": "u1", "value": "1", "currency": 5}, "the number 5"),
    ({"event": 5, "uid": "u1"}, "got the number 5"),
    ({"event": "deposit", "uid": "u1", "value": 99999999999999999999999999999999}, "too large"),
    ({"event": "deposit", "uid": "u1", "value": "99999999999999999999999999999999"}, "too large"),
])
def test_a_refusal_names_the_value_it_refused(client, space, body, words):
    r = client.post("/events", json={"eid": "named", **body}, headers=bearer(space))
    assert r.status_code == 400 and words in r.json["error"] and "'int'" not in r.json["error"], r.json


def test_an_ingest_token_on_a_read_endpoint_says_which_secret_it_takes(client, space):
    r = client.get("/reports", query_string={"group_by": "link"}, headers={"Authorization": f"Bearer {space['ingest']}"})
    assert r.status_code == 401 and "report key" in r.json["error"] and "POST" not in r.json["error"], r.json


def test_an_infinite_cost_amount_is_too_large(client, space, clock):
    r = client.post("/costs", data='{"date": "%s", "link": "spring", "amount": 1e400, "currency": "USD"}'
                    % day_of(clock, space), content_type="application/json", headers=bearer(space))
    assert r.status_code == 400 and "too large" in json.dumps(r.json), r.json
