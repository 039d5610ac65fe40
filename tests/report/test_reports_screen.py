"""The Reports screen: grouping, two levels, sorting, totals equal to the deck, CSV download, cohorts, report keys."""
import csv
import io
from zoneinfo import ZoneInfo

from tests.conftest import bearer
from tests.dashboard.conftest import html


def day(clock, space):
    return clock.now.astimezone(ZoneInfo(space["time_zone"])).date().isoformat()


def test_the_screen_shows_the_grouping_with_a_totals_row_equal_to_the_api(login, client, space, clock, seeded):
    viewer = login("viewer")
    d = day(clock, space)
    r = viewer.get(f"/spaces/{space['slug']}/reports/", query_string={"group_by": "campaign", "then_by": "ad",
                                                                       "range": "custom", "from": d, "to": d})
    assert r.status_code == 200
    page = html(r)
    groups = page.select("#report tbody tr.group")
    children = page.select("#report tbody tr.child")
    # "" is the journey without a click: "(none)".
    assert {g["data-key"] for g in groups} == {"c1", "c2", ""}
    assert {c["data-key"] for c in children} == {"a1", "a2", "a3", "a4", ""}
    api = client.get("/reports", query_string={"group_by": "campaign,ad", "from": d, "to": d}, headers=bearer(space)).json
    totals = page.select_one("#report-totals")
    assert totals.select_one("td.clicks").text.strip() == str(api["totals"]["clicks"]) == "13"
    assert totals.select_one("td.first_deposits").text.strip() == str(api["totals"]["first_deposits"])
    # EUR revenue without a rate: missing, with the originals on hover.
    missing = totals.select_one("td.revenue .missing")
    assert missing is not None and "EUR" in missing["title"] and "USD" in missing["title"]
    assert page.select_one("#download-csv")["href"].endswith("format=csv")
    assert page.select_one("#tab-reports")["aria-current"] == "page"


def test_headers_sort_the_rows(login, space, clock, seeded):
    viewer = login("viewer")
    d = day(clock, space)
    base = {"group_by": "ad", "range": "custom", "from": d, "to": d}
    keys = lambda page: [tr["data-key"] for tr in page.select("#report tbody tr.row")]  # noqa: E731
    page = html(viewer.get(f"/spaces/{space['slug']}/reports/", query_string={**base, "sort": "clicks", "dir": "desc"}))
    assert keys(page)[0] == "a4"        # 4 clicks (one arrived after its deposit)
    page = html(viewer.get(f"/spaces/{space['slug']}/reports/", query_string={**base, "sort": "key", "dir": "asc"}))
    assert keys(page)[:4] == ["", "a1", "a2", "a3"] or keys(page)[:3] == ["a1", "a2", "a3"]
    assert "sort=clicks" in page.select_one("#sort-clicks")["href"]


def test_the_screen_downloads_csv_with_the_same_figures(login, space, clock, seeded):
    viewer = login("viewer")
    d = day(clock, space)
    r = viewer.get(f"/spaces/{space['slug']}/reports/", query_string={"group_by": "country", "range": "custom",
                                                                       "from": d, "to": d, "format": "csv"})
    assert r.status_code == 200 and r.mimetype == "text/csv"
    lines = list(csv.DictReader(io.StringIO(r.get_data(as_text=True))))
    assert lines[-1]["country"] == "(total)" and int(lines[-1]["clicks"]) == 13
    assert {l["country"] for l in lines[:-1]} == {"DE", "BR", "US", ""}


def test_a_grouping_that_does_not_exist_is_explained(login, space):
    viewer = login("viewer")
    r = viewer.get(f"/spaces/{space['slug']}/reports/", query_string={"group_by": "campaign", "then_by": "colour"})
    assert r.status_code == 400
    assert "is not one of" in html(r).select_one("#report-error").text
    pair = viewer.get(f"/spaces/{space['slug']}/reports/", query_string={"group_by": "campaign", "then_by": "country"})
    assert pair.status_code == 200 and html(pair).select_one("#report-error") is None


def test_the_cohorts_screen_shows_cumulative_deposits(login, space, clock, seeded):
    viewer = login("viewer")
    d = day(clock, space)
    page = html(viewer.get(f"/spaces/{space['slug']}/reports/cohorts", query_string={"range": "custom", "from": d, "to": d}))
    row = page.select_one(f"#cohorts tbody tr[data-day='{d}']")
    assert row is not None
    assert row.select_one("td.deposits-0").text.strip() == "9"   # 4 depositors × 2 + the late click's
    assert row.select_one("td.deposits-1").text.strip() == ""    # day 1 has not come yet
    assert page.select_one("#subtab-cohorts")["aria-current"] == "page"


def test_it_checks_ownership_of_the_reports_screen(login, space, other_space):
    outsider = login("viewer", other_space)
    for path in ("reports/", "reports/cohorts", "costs/"):
        assert outsider.get(f"/spaces/{space['slug']}/{path}").status_code == 404


def test_admins_create_and_revoke_report_keys_on_the_keys_page(app, login, client, space, other_space, clock):
    admin = login("admin")
    page = html(admin.get(f"/spaces/{space['slug']}/keys/"))
    token = page.select_one("#create-report-key").find_parent("form").select_one("input[name=csrf_token]")["value"]
    r = admin.post(f"/spaces/{space['slug']}/keys/report", data={"label": "Looker", "csrf_token": token})
    assert r.status_code == 200
    page = html(r)
    secret = page.select_one("#secret-report").text.strip()
    assert secret.startswith("xtr_")
    assert client.get("/reports", query_string={"group_by": "link"}, headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    [row] = page.select("#report-key-list tbody tr")
    key_id = row["id"].removeprefix("report-key-")
    # Another space's admin cannot revoke it.
    other_admin = login("admin", other_space)
    other_token = html(other_admin.get(f"/spaces/{other_space['slug']}/keys/")).select_one("input[name=csrf_token]")["value"]
    assert other_admin.post(f"/spaces/{other_space['slug']}/keys/report/{key_id}/revoke",
                            data={"csrf_token": other_token}).status_code == 404
    assert admin.post(f"/spaces/{space['slug']}/keys/report/{key_id}/revoke", data={"csrf_token": token}).status_code == 200
    assert client.get("/reports", query_string={"group_by": "link"}, headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    assert admin.post(f"/spaces/{space['slug']}/keys/report", data={"label": " ", "csrf_token": token}).status_code == 400
    viewer = login("viewer")
    assert viewer.get(f"/spaces/{space['slug']}/keys/").status_code == 403


def test_the_deck_shows_cost_profit_and_roi_per_link_and_in_the_revenue_headline(login, client, space, clock, seeded):
    d = day(clock, space)
    assert client.post("/costs", json={"date": d, "link": "spring", "amount": "30", "currency": "USD"},
                       headers=bearer(space)).status_code == 200
    page = html(login("viewer").get(f"/spaces/{space['slug']}/", query_string={"range": "today"}))
    spring = page.select_one("#link-spring")
    assert spring.select_one("td.cost").text.strip() == "30.00"
    # spring's revenue has EUR without a rate: its profit is unknown, never a partial figure.
    assert spring.select_one("td.profit").text.strip() == "—"
    assert page.select_one("#revenue-cost strong").text.strip() == "30.00"
    assert page.select_one("#revenue-profit .missing") is not None
    api = client.get("/reports", query_string={"group_by": "link", "from": d, "to": d}, headers=bearer(space)).json
    assert api["totals"]["cost"]["amount"] == "30.00" and api["totals"]["profit"] is None
