"""The deck and its partials, checked by element ids and numbers against seeded traffic."""
from datetime import timedelta

import pytest

from app.lib import clock as clock_lib
from tests.dashboard.conftest import html, send_click, send_event


def make_link(db, space: dict, slug: str, name: str) -> None:
    db.execute(
        "INSERT INTO links (space_id, slug, name, kind, target, created_at, updated_at)"
        " VALUES (%s, %s, %s, 'bot', 'demo_bot', now(), now())", (space["id"], slug, name))


def journey(client, space, link: str | None, country: str, stages: list[str], at, deposit: str | None = None,
            currency: str = "USD") -> str:
    """A click on `link` from `country`, then the given events at `at`; returns the uid."""
    uid = send_click(client, space, **({"link_slug": link} if link else {}), country=country)["uid"]
    for stage in stages:
        body = {"event": stage, "uid": uid, "occurred_at_ms": clock_lib.to_ms(at)}
        if stage == "deposit" and deposit:
            body.update(value=deposit, currency=currency)
        send_event(client, space, **body)
    return uid


@pytest.fixture
def seeded(client, db, space, other_space, clock):
    """Alice's space: 2 links, 5 journeys today, 1 yesterday; Bob's space has its own traffic."""
    make_link(db, space, "spring", "Spring creative")
    make_link(db, space, "summer", "Summer creative")
    now = clock.now
    full = ["contact", "subscribed", "registration", "deposit"]
    journey(client, space, "spring", "DE", full, now, "25.00")
    journey(client, space, "spring", "DE", full, now, "10.00", currency="EUR")
    journey(client, space, "spring", "FR", ["contact", "subscribed"], now)
    journey(client, space, "summer", "BR", ["contact", "subscribed", "registration"], now)
    journey(client, space, "summer", "BR", ["contact"], now)
    journey(client, space, "summer", "US", full, now - timedelta(days=1), "100.00")
    make_link(db, other_space, "bobs", "Bob's link")
    journey(client, other_space, "bobs", "JP", full, now, "999.00")
    return space


def partial(client, space, name, query=""):
    response = client.get(f"/spaces/{space['slug']}/partials/{name}?{query}")
    assert response.status_code == 200, response.get_data(as_text=True)
    page = html(response)
    assert page.find(id=name) is not None
    return page


def count(page, element_id) -> int:
    return int(page.find(id=element_id)["data-count"])


def test_it_counts_unique_journeys_per_funnel_stage_today(login, seeded):
    page = partial(login(), seeded, "funnel", "range=today")
    assert [count(page, f"funnel-{s}") for s in ("contact", "subscribed", "registration", "deposit")] == [5, 4, 3, 2]
    assert page.select_one("#funnel-subscribed .step").text == "80.0%"
    assert page.select_one("#funnel-deposit .drop").text == "−1"


def test_it_cycles_the_gauge_through_step_rates_and_the_overall_rate(login, seeded):
    page = partial(login(), seeded, "gauge", "range=today")
    rates = {li["id"]: li["data-rate"] for li in page.select(".rates li")}
    assert rates == {"gauge-contact-subscribed": "0.8000", "gauge-subscribed-registration": "0.7500",
                     "gauge-registration-deposit": "0.6667", "gauge-contact-deposit": "0.4000"}
    assert len(page.select("svg .slide")) == 4


def test_it_shows_revenue_per_currency_main_first_and_revenue_per_click(login, seeded):
    page = partial(login(), seeded, "revenue", "range=today")
    figures = [f["id"] for f in page.select(".figure[id^=revenue-]")][:2]
    assert figures == ["revenue-USD", "revenue-EUR"]
    assert page.find(id="revenue-USD")["data-amount"].startswith("25.0")
    assert count(page, "revenue-deposits") == 2
    assert count(page, "revenue-clicks") == 6
    assert page.select_one("#revenue-per-click strong").text == "4.17"
    assert page.find(id="waveform")["data-grain"] == "quarter"
    assert page.find(id="wave-contact")["data-total"] == "5"
    assert len(page.find(id="wave-contact")["points"].split()) == 96


def test_it_buckets_the_waveform_by_hour_for_two_days(login, seeded, clock):
    first = (clock.now - timedelta(days=1)).date().isoformat()
    page = partial(login(), seeded, "revenue", f"range=custom&from={first}&to={clock.now.date().isoformat()}")
    assert page.find(id="waveform")["data-grain"] == "hour"
    assert len(page.find(id="wave-deposit")["points"].split()) == 48
    assert page.find(id="wave-deposit")["data-total"] == "3"


def test_it_buckets_the_waveform_by_day_for_long_ranges(login, seeded):
    page = partial(login(), seeded, "revenue", "range=7d")
    assert page.find(id="waveform")["data-grain"] == "day"
    assert page.find(id="wave-deposit")["data-total"] == "3"
    assert len(page.find(id="wave-deposit")["points"].split()) == 7


def test_it_changes_the_numbers_with_the_date_filter(login, seeded, clock):
    client = login()
    yesterday = partial(client, seeded, "funnel", "range=yesterday")
    assert count(yesterday, "funnel-deposit") == 1
    week = partial(client, seeded, "funnel", "range=7d")
    assert count(week, "funnel-deposit") == 3
    day = (clock.now - timedelta(days=1)).date().isoformat()
    custom = partial(client, seeded, "revenue", f"range=custom&from={day}&to={day}")
    assert custom.find(id="revenue-USD")["data-amount"].startswith("100.0")


def test_it_filters_every_widget_by_link(login, seeded):
    client = login()
    funnel = partial(client, seeded, "funnel", "range=today&link=summer")
    assert [count(funnel, f"funnel-{s}") for s in ("contact", "subscribed", "registration", "deposit")] == [2, 1, 1, 0]
    revenue = partial(client, seeded, "revenue", "range=today&link=spring")
    assert count(revenue, "revenue-clicks") == 3
    countries = partial(client, seeded, "map", "range=today&link=summer")
    assert [tr["id"] for tr in countries.select("#top-countries tbody tr[id]")] == ["country-BR", "country-US"]


def test_it_shades_the_world_map_and_ranks_top_countries(login, seeded):
    client = login()
    page = partial(client, seeded, "map", "range=7d")
    rows = page.select("#top-countries tbody tr[id]")
    assert [r["id"] for r in rows] == ["country-BR", "country-DE", "country-FR", "country-US"]
    assert rows[1].select_one(".deposits").text == "2"
    assert {u["data-country"] for u in page.select("use[data-country]")} == {"BR", "DE", "FR", "US"}
    deposits = partial(client, seeded, "map", "range=7d&metric=deposits")
    assert [r["id"] for r in deposits.select("#top-countries tbody tr[id]")] == ["country-DE", "country-US"]


def test_it_attributes_clicks_and_conversions_to_links_sortable(login, seeded):
    client = login()
    page = partial(client, seeded, "attribution", "range=7d")
    spring = page.find(id="link-spring")
    assert [spring.select_one(f".{c}").text for c in ("clicks", "subscribed", "registration", "deposit")] == \
        ["3", "3", "2", "2"]
    assert spring.select_one(".revenue").text.startswith("25.00")
    summer = page.find(id="link-summer")
    assert summer.select_one(".revenue .main").text.split(" · ")[0] == "100.00 USD"
    by_revenue = partial(client, seeded, "attribution", "range=7d&sort=revenue&dir=desc")
    assert [tr["id"] for tr in by_revenue.select("tbody tr[id]")][:2] == ["link-summer", "link-spring"]
    by_deposits = partial(client, seeded, "attribution", "range=7d&sort=deposit&dir=asc")
    assert [tr["id"] for tr in by_deposits.select("tbody tr[id]")] == ["link-summer", "link-spring"]


def test_it_moves_events_that_arrive_before_their_click_onto_the_link(client, login, db, space, clock):
    make_link(db, space, "late", "Late click")
    uid = "early-bird"
    send_event(client, space, event="contact", uid=uid, occurred_at_ms=clock_lib.to_ms(clock.now))
    send_event(client, space, event="deposit", uid=uid, value="5", occurred_at_ms=clock_lib.to_ms(clock.now))
    viewer = login()
    before = partial(viewer, space, "attribution", "range=today")
    assert before.find(id="link-none").select_one(".deposit").text == "1"
    db.execute("INSERT INTO clicks (space_id, uid, created_at, source, link_slug, country)"
               " VALUES (%s, %s, now(), 'api', 'late', 'PL')", (space["id"], uid))
    db.execute("UPDATE journeys SET clicked_at = now() WHERE space_id = %s AND uid = %s", (space["id"], uid))
    after = partial(viewer, space, "attribution", "range=today")
    assert after.find(id="link-late").select_one(".deposit").text == "1"
    assert after.find(id="link-late").select_one(".revenue .main").text.split(" · ")[0] == "5.00 USD"
    assert after.find(id="link-none") is None or after.find(id="link-none").select_one(".deposit").text == "0"


def test_it_rebuilds_rollups_to_the_same_numbers_the_triggers_kept(login, seeded, db):
    client = login()
    client.get(f"/spaces/{seeded['slug']}/partials/funnel")
    queries = ["SELECT link_slug, day, kind, currency, n, amount FROM rollup_days"
               " WHERE space_id = %s AND n <> 0 ORDER BY 1, 2, 3, 4",
               "SELECT link_slug, day, kind, country, n FROM rollup_geo_days"
               " WHERE space_id = %s AND n <> 0 ORDER BY 1, 2, 3, 4",
               "SELECT link_slug, slot, kind, n FROM rollup_quarters WHERE space_id = %s AND n <> 0 ORDER BY 1, 2, 3"]
    kept = [db.execute(q, (seeded["id"],)).fetchall() for q in queries]
    assert all(kept)
    db.execute("SELECT deck_rebuild(%s)", (seeded["id"],))
    assert [db.execute(q, (seeded["id"],)).fetchall() for q in queries] == kept


def test_it_keeps_other_spaces_numbers_out(login, seeded):
    page = partial(login(), seeded, "revenue", "range=today")
    assert page.find(id="revenue-JPY") is None
    assert all("999" not in f.text for f in page.select(".figure"))


@pytest.mark.parametrize("query, message", [
    ("range=forever", "`range` must be one of"),
    ("range=custom&from=2026-02-30&to=2026-03-01", "`from` must be a date"),
    ("range=custom&from=2026-03-02&to=2026-03-01", "`to` must not be before `from`"),
    ("range=custom&from=2020-01-01&to=2026-03-01", "at most 366 days"),
    ("link=%3Cscript%3E", "`link` must be a link slug"),
])
def test_it_explains_bad_filters_with_a_400(login, space, query, message):
    response = login().get(f"/spaces/{space['slug']}/partials/funnel?{query}")
    assert response.status_code == 400
    assert message in html(response).find(id="error").text


def test_it_renders_the_whole_deck_with_filters_in_the_url(login, seeded):
    client = login()
    page = html(client.get(f"/spaces/{seeded['slug']}/?range=yesterday&link=summer"))
    assert page.find(id="preset-yesterday")["class"] == ["preset", "active"]
    assert page.select_one("#link-filter option[selected]")["value"] == "summer"
    assert page.find(id="funnel")["hx-get"].endswith("range=yesterday&link=summer")
    assert count(page, "funnel-deposit") == 1


def test_it_cuts_days_at_midnight_in_a_half_hour_time_zone(client, login, db, space, clock):
    from datetime import datetime, time as dtime
    from zoneinfo import ZoneInfo
    db.execute("UPDATE spaces SET time_zone = 'Asia/Kolkata' WHERE id = %s", (space["id"],))
    zone = ZoneInfo("Asia/Kolkata")
    midnight = datetime.combine(clock.now.astimezone(zone).date(), dtime.min, zone)
    for uid, at in (("late-yesterday", midnight - timedelta(minutes=10)),
                    ("two-days-ago", midnight - timedelta(days=1, minutes=10))):
        send_event(client, space, event="contact", uid=uid, occurred_at_ms=clock_lib.to_ms(at))
    viewer = login()
    yesterday = partial(viewer, space, "funnel", "range=yesterday")
    assert count(yesterday, "funnel-contact") == 1
    wave = partial(viewer, space, "revenue", "range=yesterday")
    assert wave.find(id="wave-contact")["data-total"] == "1"
