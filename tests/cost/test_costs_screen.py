"""The Costs screen: the form, the CSV upload with a preview and per-row errors, manual rates, roles and tenancy."""
import io
from zoneinfo import ZoneInfo

from tests.dashboard.conftest import html
from tests.landing.landing_helpers import make_link


def token_of(page) -> str:
    return page.select_one("input[name=csrf_token]")["value"]


def today(clock, space):
    return clock.now.astimezone(ZoneInfo(space["time_zone"])).date().isoformat()


def test_the_form_stores_a_cost_and_a_bad_one_is_explained_with_the_values_kept(app, login, space, clock, db):
    make_link(app, space, "spring")
    operator = login("operator")
    page = html(operator.get(f"/spaces/{space['slug']}/costs/"))
    token = token_of(page)
    d = today(clock, space)
    r = operator.post(f"/spaces/{space['slug']}/costs/", data={"csrf_token": token, "date": d, "scope": "link",
                                                                "scope_id": "spring", "amount": "12.50", "currency": "usd"})
    assert r.status_code == 302
    page = html(operator.get(r.headers["Location"]))
    assert page.select_one("#notice").text.strip() == "Cost stored."
    assert "12.50 USD" in page.select_one("#costs tbody tr").text
    r = operator.post(f"/spaces/{space['slug']}/costs/", data={"csrf_token": token, "date": d, "scope": "campaign",
                                                                "scope_id": "120", "amount": "ten", "currency": "USD"})
    assert r.status_code == 400
    page = html(r)
    assert "`amount` must be a number" in page.select_one("#form-error").text
    assert page.select_one("#f-amount")["value"] == "ten" and page.select_one("#f-scope_id")["value"] == "120"
    assert db.execute("SELECT count(*) AS n FROM costs").fetchone()["n"] == 1


CSV = """Day,Campaign ID,Amount spent (USD),Currency
{d},120200,10.50,USD
{d},,3,USD
2026-02-30,120201,4,USD
{d},120202,-5,USD
{d},120203,"1,234.5",usd
"""


def test_a_csv_is_previewed_row_by_row_and_only_its_valid_rows_are_stored(login, space, clock, db):
    operator = login("operator")
    token = token_of(html(operator.get(f"/spaces/{space['slug']}/costs/")))
    text = CSV.format(d=today(clock, space))
    r = operator.post(f"/spaces/{space['slug']}/costs/upload", data={"csrf_token": token,
                      "file": (io.BytesIO(text.encode()), "spend.csv")}, content_type="multipart/form-data")
    assert r.status_code == 200
    page = html(r)
    rows = page.select("#csv-preview tbody tr")
    assert [row["class"][0] for row in rows] == ["ok", "refused", "refused", "refused", "ok"]
    errors = [row.select_one(".row-error").text for row in rows if "refused" in row["class"]]
    assert "exactly one scope" in errors[0] and "YYYY-MM-DD" in errors[1] and "zero or more" in errors[2]
    assert page.select_one("#csv-line-3") is not None
    assert db.execute("SELECT count(*) AS n FROM costs").fetchone()["n"] == 0      # a preview stores nothing
    assert page.select_one("#import-csv").text.strip() == "Store 2 valid rows"
    csv_text = page.select_one("#cost-import textarea[name=csv_text]").text
    r = operator.post(f"/spaces/{space['slug']}/costs/import", data={"csrf_token": token, "csv_text": csv_text})
    assert r.status_code == 200
    assert "Stored 2 costs" in html(r).select_one("#notice").text and "3 rows refused" in html(r).select_one("#notice").text
    stored = db.execute("SELECT scope_id, amount FROM costs ORDER BY scope_id").fetchall()
    assert [(s["scope_id"], str(s["amount"])) for s in stored] == [("120200", "10.500000"), ("120203", "1234.500000")]
    # Importing the same file again replaces, never doubles.
    operator.post(f"/spaces/{space['slug']}/costs/import", data={"csrf_token": token, "csv_text": csv_text})
    assert db.execute("SELECT count(*) AS n FROM costs").fetchone()["n"] == 2
    r = operator.post(f"/spaces/{space['slug']}/costs/upload", data={"csrf_token": token,
                      "file": (io.BytesIO(b"foo,bar\n1,2\n"), "x.csv")}, content_type="multipart/form-data")
    assert r.status_code == 400 and "the header lacks" in html(r).select_one("#upload-error").text


def test_manual_rates_are_stored_and_bad_ones_refused(login, space, clock, db):
    operator = login("operator")
    token = token_of(html(operator.get(f"/spaces/{space['slug']}/costs/")))
    d = today(clock, space)
    r = operator.post(f"/spaces/{space['slug']}/costs/rates", data={"csrf_token": token, "date": d, "currency": "ngn",
                                                                     "rate": "0.00065", "quote": ""})
    assert r.status_code == 302
    rows = b"date,currency,rate,quote\n" + f"{d},KZT,0.0019,USD\n{d},USD,0,\nbad,XOF,1,\n".encode()
    r = operator.post(f"/spaces/{space['slug']}/costs/rates/upload", data={"csrf_token": token,
                      "file": (io.BytesIO(rows), "rates.csv")}, content_type="multipart/form-data")
    page = html(r)
    assert "Stored 1 rate; 2 rows refused." in page.select_one("#notice").text
    assert len(page.select("#rate-errors li")) == 2
    stored = db.execute("SELECT currency, quote, rate FROM space_rates WHERE space_id = %s ORDER BY currency",
                        (space["id"],)).fetchall()
    assert [(s["currency"], s["quote"]) for s in stored] == [("KZT", "USD"), ("NGN", "USD")]


def test_viewers_read_costs_but_cannot_write_and_other_spaces_see_nothing(login, space, other_space, clock, db):
    viewer = login("viewer")
    page = html(viewer.get(f"/spaces/{space['slug']}/costs/"))
    assert page.select_one("#cost-form") is None
    r = viewer.post(f"/spaces/{space['slug']}/costs/", data={"csrf_token": token_of(page), "date": today(clock, space),
                    "scope": "ad", "scope_id": "1", "amount": "1", "currency": "USD"})
    assert r.status_code == 403
    outsider = login("operator", other_space)
    token = token_of(html(outsider.get(f"/spaces/{other_space['slug']}/costs/")))
    r = outsider.post(f"/spaces/{space['slug']}/costs/", data={"csrf_token": token, "date": today(clock, space),
                      "scope": "ad", "scope_id": "1", "amount": "1", "currency": "USD"})
    assert r.status_code == 404
    assert db.execute("SELECT count(*) AS n FROM costs").fetchone()["n"] == 0
