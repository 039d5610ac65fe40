"""Cohorts: deposits and revenue by day of click (or registration), cumulative at day 0, 1, 7, 30 and to date."""
from datetime import timedelta
from zoneinfo import ZoneInfo

from tests.conftest import bearer
from tests.report.conftest import click, event

DAY_MS = 86_400_000


def local_day(clock, space, ms=None):
    from datetime import datetime, timezone
    at = clock.now if ms is None else datetime.fromtimestamp(ms / 1000, timezone.utc)
    return at.astimezone(ZoneInfo(space["time_zone"])).date()


def test_repeat_deposits_accumulate_by_the_day_of_the_click(app, client, space, clock):
    from tests.landing.landing_helpers import make_link
    make_link(app, space, "spring")
    # Two people click 40 days ago; one of them registers 2 days later.
    clock.advance(days=-40)
    first, second = (click(client, space, "spring", "c1", "s1", "a1", "DE") for _ in range(2))
    clicked = clock.now
    clock.advance(days=40)
    t0 = int(clicked.timestamp() * 1000)
    event(client, space, event="registration", uid=first, eid="reg", occurred_at_ms=t0 + 2 * DAY_MS)
    # Repeat deposits on day 0, 1, 5, 20 and 35 after the click; one in EUR without a rate.
    for n, (days, value, currency) in enumerate([(0, "10", "USD"), (1, "5", "USD"), (5, "7", "USD"),
                                                 (20, "3", "EUR"), (35, "100", "USD")]):
        event(client, space, event="deposit", uid=first, value=value, currency=currency, eid=f"d{n}",
              occurred_at_ms=t0 + days * DAY_MS + 60_000)
    event(client, space, event="deposit", uid=second, value="1", eid="s0", occurred_at_ms=t0 + 60_000)
    day = local_day(clock, space, t0).isoformat()
    r = client.get("/reports/cohorts", query_string={"from": day, "to": day}, headers=bearer(space))
    assert r.status_code == 200, r.json
    assert r.json["days"] == [0, 1, 7, 30] and r.json["basis"] == "click"
    [cohort] = r.json["cohorts"]
    assert cohort["day"] == day and cohort["size"] == 2
    assert cohort["deposits"] == {"0": 2, "1": 3, "7": 4, "30": 5, "all": 6}
    revenue = cohort["revenue"]
    assert revenue["0"]["amount"] == "11.00" and revenue["1"]["amount"] == "16.00" and revenue["7"]["amount"] == "23.00"
    assert revenue["30"]["amount"] is None and revenue["30"]["missing_rates"] == ["EUR"]
    assert revenue["30"]["original"] == {"EUR": "3.00", "USD": "23.00"}
    assert revenue["all"]["original"] == {"EUR": "3.00", "USD": "123.00"}
    # By registration day: only the registered person, from two days after the click.
    reg_day = local_day(clock, space, t0 + 2 * DAY_MS).isoformat()
    r = client.get("/reports/cohorts", query_string={"from": day, "to": reg_day, "basis": "registration"},
                   headers=bearer(space))
    [cohort] = r.json["cohorts"]
    assert cohort["day"] == reg_day and cohort["size"] == 1
    # Deposits before the registration count at day 0 of its cohort.
    assert cohort["deposits"] == {"0": 2, "1": 2, "7": 3, "30": 4, "all": 5}


def test_a_day_that_has_not_come_yet_is_empty_not_zero(app, client, space, clock):
    uid = client.post("/clicks", json={"country": "DE"}, headers=bearer(space)).json["uid"]
    event(client, space, event="deposit", uid=uid, value="4", eid="d")
    day = local_day(clock, space).isoformat()
    answer = client.get("/reports/cohorts", query_string={"from": day, "to": day}, headers=bearer(space)).json
    [cohort] = answer["cohorts"]
    assert cohort["deposits"] == {"0": 1, "1": None, "7": None, "30": None, "all": 1}
    assert cohort["revenue"]["1"] is None and cohort["revenue"]["0"]["amount"] == "4.00"
    csv_text = client.get("/reports/cohorts", query_string={"from": day, "to": day, "format": "csv"},
                          headers=bearer(space)).get_data(as_text=True)
    lines = csv_text.strip().splitlines()
    assert lines[0].startswith("cohort_day,size,deposits_day_0") and lines[1].startswith(f"{day},1,1,,,,1,4.00,")
    bad = client.get("/reports/cohorts", query_string={"basis": "install"}, headers=bearer(space))
    assert bad.status_code == 400 and "basis" in bad.json["error"]
