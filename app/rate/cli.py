"""`flask --app wsgi rates …`: fetch the ECB reference rates now, or set a space's own rate."""
from datetime import date
from zoneinfo import ZoneInfo

import click
from flask import Flask

from app import db
from app.lib import clock
from app.lib.cli_output import emit, fail
from app.lib.currency import normalize_currency
from app.rate import ecb, store
from app.rate.parse import RateError, parse_rate
from app.space.cli import space_or_fail


def register(app: Flask) -> None:
    """Attach the `rates` command group."""

    @app.cli.group("rates")
    def rates_group():
        """Exchange rates for converting revenue and costs to a space's main currency."""

    @rates_group.command("fetch")
    @click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
    def fetch_command(as_json: bool):
        """Fetch ECB_RATES_URL and store its rates (the scheduler does this every RATES_FETCH_MINUTES)."""
        try:
            result = ecb.fetch_reference_rates()
        except ecb.RatesFetchError as exc:
            fail(as_json, str(exc))
        emit(as_json, {"ok": True, **result},
             f"stored {result['rates']} rates for {result['days']} days (latest {result['latest']})")

    @rates_group.command("set")
    @click.argument("space")
    @click.argument("day")
    @click.argument("currency")
    @click.argument("rate")
    @click.option("--quote", default=None, help="The currency the rate is in (default: the space's main currency).")
    @click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
    def set_command(space: str, day: str, currency: str, rate: str, quote: str | None, as_json: bool):
        """Set a space's own rate: 1 CURRENCY = RATE (main currency or --quote) on DAY (YYYY-MM-DD)."""
        with db.transaction() as conn:
            row = space_or_fail(conn, space, as_json)
            try:
                when = date.fromisoformat(day)
            except ValueError:
                fail(as_json, "DAY must be YYYY-MM-DD")
            today = clock.now().astimezone(ZoneInfo(row["time_zone"])).date()
            if when > today:
                fail(as_json, f"DAY {when.isoformat()} is in the future (today is {today.isoformat()} in the space's zone)")
            try:
                value = parse_rate(rate)
            except RateError as exc:
                fail(as_json, str(exc).replace("`rate`", "RATE"))
            base, against = normalize_currency(currency), normalize_currency(quote or row["currency"])
            if base is None or against is None or base == against:
                fail(as_json, "CURRENCY and --quote must be two different ISO 4217 codes")
            stored = store.upsert_space_rate(conn, row["id"], when, base, against, value, clock.now())
        emit(as_json, {"ok": True, "space": row["slug"], "date": stored["day"].isoformat(), "currency": base,
                       "quote": against, "rate": str(stored["rate"])}, f"1 {base} = {stored['rate']} {against} on {when.isoformat()}")
