"""Reports read whole weeks from report_weeks and the ragged ends (and other currencies' revenue) from
report_days: the week rollup is report_days summed by week, and a report over weeks holds exactly the
figures of the same report over the one day that has them."""
from datetime import date, timedelta

import pytest

from app.report.query import whole_weeks
from tests.report.test_reports_api import _post_costs, day_of, get

FIGURES = "clicks, contacts, subscribed, registrations, first_deposits, deposits, revenue"
KEYS = "link_slug, campaign_id, adset_id, ad_id, currency"


def weeks_and_summed_days(db, space_id) -> tuple[list, list]:
    db.execute("SELECT fold_reports(%s)", (space_id,))
    weeks = db.execute(f"SELECT week, {KEYS}, {FIGURES} FROM report_weeks WHERE space_id = %s"
                       f" ORDER BY week, {KEYS}", (space_id,)).fetchall()
    summed = db.execute(
        f"SELECT date_trunc('week', day)::date AS week, {KEYS}, sum(clicks) AS clicks, sum(contacts) AS contacts,"
        " sum(subscribed) AS subscribed, sum(registrations) AS registrations, sum(first_deposits) AS first_deposits,"
        " sum(deposits) AS deposits, sum(revenue) AS revenue"
        f" FROM report_days WHERE space_id = %s GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, {KEYS}", (space_id,)).fetchall()
    return weeks, summed


def test_report_weeks_are_report_days_summed_by_week_when_folded_and_rebuilt(app, client, space, clock, seeded, db):
    weeks, summed = weeks_and_summed_days(db, space["id"])
    assert weeks and weeks == summed
    assert {r["week"].isoweekday() for r in weeks} == {1}
    db.execute("SELECT report_rebuild(%s)", (space["id"],))
    assert weeks_and_summed_days(db, space["id"]) == (weeks, summed)


def _without_range(answer: dict) -> dict:
    return {k: v for k, v in answer.items() if k not in ("from", "to")}


@pytest.mark.parametrize("group_by", ["ad", "link", "adset", "campaign,ad"])
def test_a_range_of_whole_weeks_and_ragged_ends_holds_the_figures_of_its_days(app, client, space, clock, seeded, db,
                                                                             group_by):
    day = date.fromisoformat(day_of(clock, space))
    _post_costs(client, space, day.isoformat())
    # A rate for the seeded EUR deposits, so their revenue is converted (at the rate of its day).
    db.execute("INSERT INTO reference_rates (day, currency, per_eur, source, fetched_at)"
               " VALUES (%s, 'USD', 1.25, 'test', now())", (day,))
    one_day = get(client, space, group_by=group_by, **{"from": day.isoformat(), "to": day.isoformat()}).json
    assert one_day["rows"] and one_day["totals"]["revenue"]["amount"] is not None
    assert one_day["totals"]["revenue"]["original"].get("EUR")
    monday = day - timedelta(days=day.weekday())
    # The day inside a whole week; the day as the ragged first day; the day as the ragged last day
    # (a Monday is never a ragged first day, a Sunday never a ragged last day: between them both cases occur).
    ranges = [(monday - timedelta(days=9), monday + timedelta(days=15)), (day, day + timedelta(days=13)),
              (day - timedelta(days=13), day)]
    assert whole_weeks(*ranges[0]) is not None
    for first, last in ranges:
        answer = get(client, space, group_by=group_by, **{"from": first.isoformat(), "to": last.isoformat()}).json
        assert _without_range(answer) == _without_range(one_day), (first, last)
