"""The ECB reference rates job against a local HTTP server serving the ECB's real XML format, and conversion
at the rate of the amount's day (weekends take the last published day; beyond RATE_MAX_AGE_DAYS it is missing)."""
import json
from datetime import date
from decimal import Decimal

from app import db as app_db
from app.rate import ecb, store
from app.rate.convert import rate_table

# The shape of https://www.ecb.europa.eu/stats/eurofxref/eurofxref-hist-90d.xml (two publication days).
ECB_XML = b"""<?xml version="1.0" encoding="UTF-8"?>
<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01" xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">
\t<gesmes:subject>Reference rates</gesmes:subject>
\t<gesmes:Sender>
\t\t<gesmes:name>European Central Bank</gesmes:name>
\t</gesmes:Sender>
\t<Cube>
\t\t<Cube time="2026-11-27">
\t\t\t<Cube currency="USD" rate="1.0500"/>
\t\t\t<Cube currency="JPY" rate="160.12"/>
\t\t\t<Cube currency="GBP" rate="0.8400"/>
\t\t\t<Cube currency="BRL" rate="6.1000"/>
\t\t</Cube>
\t\t<Cube time="2026-11-26">
\t\t\t<Cube currency="USD" rate="1.0400"/>
\t\t\t<Cube currency="JPY" rate="159.00"/>
\t\t\t<Cube currency="GBP" rate="0.8300"/>
\t\t\t<Cube currency="BRL" rate="6.0000"/>
\t\t</Cube>
\t</Cube>
</gesmes:Envelope>
"""


def test_the_job_stores_every_days_rates_from_the_ecb_document(app, httpserver, db):
    httpserver.expect_request("/stats/eurofxref/eurofxref-hist-90d.xml").respond_with_data(ECB_XML, content_type="text/xml")
    app.config["ECB_RATES_URL"] = httpserver.url_for("/stats/eurofxref/eurofxref-hist-90d.xml")
    with app.app_context():
        assert ecb.fetch_reference_rates() == {"days": 2, "rates": 8, "latest": "2026-11-27"}
        # Fetching again replaces, never duplicates.
        ecb.fetch_reference_rates()
    rows = db.execute("SELECT day, currency, per_eur FROM reference_rates ORDER BY day, currency").fetchall()
    assert len(rows) == 8
    assert (rows[-1]["day"], rows[-1]["currency"], str(rows[-1]["per_eur"])) == (date(2026, 11, 27), "USD", "1.0500")


def test_the_cli_fetches_and_reports_a_bad_answer(app, httpserver):
    httpserver.expect_request("/good.xml").respond_with_data(ECB_XML)
    httpserver.expect_request("/down.xml").respond_with_data("busy", status=503)
    httpserver.expect_request("/html.xml").respond_with_data("<html><body>moved</body></html>")
    runner = app.test_cli_runner()
    app.config["ECB_RATES_URL"] = httpserver.url_for("/good.xml")
    result = runner.invoke(args=["rates", "fetch", "--json"])
    assert json.loads(result.output) == {"ok": True, "days": 2, "rates": 8, "latest": "2026-11-27"}
    for path, words in (("/down.xml", "HTTP 503"), ("/html.xml", "no <Cube time")):
        app.config["ECB_RATES_URL"] = httpserver.url_for(path)
        result = runner.invoke(args=["rates", "fetch", "--json"])
        assert result.exit_code == 1 and words in json.loads(result.output)["error"]


def test_conversion_takes_the_rate_of_the_day_and_never_invents_one(app, space, clock):
    rows = ecb.parse_ecb_xml(ECB_XML)
    with app.app_context():
        with app_db.transaction() as conn:
            store.upsert_reference_rates(conn, rows, "ecb", clock.now)
            # NGN is not published by the ECB: the space enters its own rate (1 NGN = 0.0006 USD).
            store.upsert_space_rate(conn, space["id"], date(2026, 11, 26), "NGN", "USD", Decimal("0.0006"), clock.now)
            store.upsert_space_rate(conn, space["id"], date(2026, 11, 26), "XAF", "EUR", Decimal("0.0015"), clock.now)
        with app_db.connection() as conn:
            table = rate_table(conn, space["id"], "USD", {"EUR", "GBP", "JPY", "NGN", "XAF", "KZT"},
                               date(2026, 11, 25), date(2026, 12, 5), max_age=7)
    thu, fri, sat = date(2026, 11, 26), date(2026, 11, 27), date(2026, 11, 28)
    assert table.factor(thu, "EUR") == Decimal("1.0400")
    assert table.factor(fri, "EUR") == Decimal("1.0500")
    assert table.factor(sat, "EUR") == Decimal("1.0500")          # the weekend takes Friday's rate
    assert table.convert(fri, "GBP", Decimal("84")) == Decimal("105.0000")   # 84 / 0.84 × 1.05
    assert table.factor(date(2026, 11, 25), "EUR") is None         # before the first published day
    assert table.factor(date(2026, 12, 5), "EUR") is None          # older than 7 days: missing
    assert table.factor(fri, "NGN") == Decimal("0.0006")           # the space's own rate, a day later
    assert table.convert(fri, "XAF", Decimal("1000")) == Decimal("1.5000") * Decimal("1.05")  # own rate to EUR, then ECB
    assert table.factor(fri, "KZT") is None                        # no source: missing, never zero
    assert table.factor(fri, "USD") == 1
