"""The Reports screen in a real browser at 1440 and 390 px: grouping campaign → ad, sorting, totals, CSV link,
dates that switch the range to custom, and the cohorts tab. Screenshots go to tests/artifacts/."""
from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import expect

from app import db as app_db
from app.rate import store as rate_store
from tests.conftest import bearer, screenshot
from tests.dashboard.conftest import browser_sign_in, make_user
from tests.report.conftest import seed


@pytest.fixture
def page(browser, app, client, live_server, space, clock):
    seed(app, client, space, clock)
    day = clock.now.astimezone(ZoneInfo(space["time_zone"])).date()
    with app.app_context():
        with app_db.transaction() as conn:
            rate_store.upsert_reference_rates(conn, [(day - timedelta(days=1), "USD", Decimal("1.08"))], "ecb", clock.now)
    r = client.post("/costs", json=[{"date": day.isoformat(), "campaign_id": "c1", "amount": "45", "currency": "USD"},
                                    {"date": day.isoformat(), "link": "autumn", "amount": "30", "currency": "EUR"}],
                    headers=bearer(space))
    assert r.status_code == 200, r.json
    make_user(app, "buyer@example.com", [(space, "viewer")])
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    tab = context.new_page()
    browser_sign_in(tab, live_server.url, "buyer@example.com", space=space)
    tab.day = day
    yield tab
    context.close()


def test_the_reports_screen_groups_sorts_and_totals(page, live_server, space):
    day = page.day.isoformat()
    page.goto(f"{live_server.url}/spaces/{space['slug']}/reports/?range=today")
    page.select_option("#f-group", "campaign")
    page.select_option("#f-then", "ad")
    page.click("#show-report")
    page.wait_for_url("**then_by=ad**")
    expect(page.locator("#report tbody tr.group")).to_have_count(3)
    expect(page.locator("#report tbody tr.child")).to_have_count(5)
    totals = page.locator("#report-totals")
    expect(totals.locator("td.clicks")).to_have_text("13")
    # 45 USD + 30 EUR × 1.08 (yesterday's rate stands in for today) = 77.40
    expect(totals.locator("td.cost")).to_have_text("77.40")
    expect(totals.locator("td.cost .amount")).to_have_attribute("title", "EUR 30.00 + USD 45.00")
    page.click("#sort-cost")
    page.wait_for_url("**sort=cost**")
    expect(page.locator("#report tbody tr.group").first).to_have_attribute("data-key", "c1")
    assert page.locator("#download-csv").get_attribute("href").endswith("format=csv")
    screenshot(page, "reports-campaign-ad")

    # Typing a date switches the range to custom.
    page.fill("#f-from", day)
    page.locator("#f-from").dispatch_event("change")
    expect(page.locator("#f-range")).to_have_value("custom")

    csv = httpx.get(page.url + "&format=csv", cookies={c["name"]: c["value"] for c in page.context.cookies()}, timeout=10)
    assert csv.status_code == 200 and csv.text.splitlines()[0].startswith("campaign,campaign_name,ad,ad_name,clicks")

    page.click("#subtab-cohorts")
    page.wait_for_url("**/reports/cohorts**")
    expect(page.locator(f"#cohorts tbody tr[data-day='{day}'] td.deposits-0")).to_have_text("9")
    screenshot(page, "reports-cohorts")


def test_the_costs_screen_previews_a_csv_with_its_bad_rows(browser, app, client, live_server, space, clock, tmp_path):
    make_user(app, "ops@example.com", [(space, "operator")])
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    tab = context.new_page()
    browser_sign_in(tab, live_server.url, "ops@example.com", space=space)
    day = clock.now.astimezone(ZoneInfo(space["time_zone"])).date().isoformat()
    upload = tmp_path / "spend.csv"
    upload.write_text(f"Day,Campaign ID,Amount spent (USD),Currency\n{day},120200,10.50,USD\n{day},,3,USD\n"
                      f"2026-02-30,120201,4,USD\n")
    tab.goto(f"{live_server.url}/spaces/{space['slug']}/costs/")
    tab.set_input_files("#f-file", str(upload))
    tab.click("#preview-csv")
    expect(tab.locator("#csv-preview tbody tr.refused")).to_have_count(2)
    expect(tab.locator("#import-csv")).to_have_text("Store 1 valid row")
    screenshot(tab, "costs-preview")
    tab.click("#import-csv")
    expect(tab.locator("#notice")).to_contain_text("Stored 1 cost")
    expect(tab.locator("#costs tbody tr")).to_have_count(1)
    context.close()
