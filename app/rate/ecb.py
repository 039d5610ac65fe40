"""Fetching the ECB's euro foreign exchange reference rates (the daily, 90-day or full history XML).

Source format (https://www.ecb.europa.eu/stats/eurofxref/eurofxref-daily.xml): a gesmes:Envelope
whose Cube holds one <Cube time="YYYY-MM-DD"> per publication day, each with
<Cube currency="USD" rate="1.0812"/> children: units of the currency per 1 EUR.
"""
import logging
import xml.etree.ElementTree as ElementTree
from datetime import date
from decimal import Decimal, InvalidOperation

import httpx
from flask import current_app

from app import db
from app.lib import clock
from app.lib.currency import normalize_currency
from app.rate import store

log = logging.getLogger("xtracker.rates")
ECB_NS = "{http://www.ecb.int/vocabulary/2002-08-01/eurofxref}"
SOURCE = "ecb"


class RatesFetchError(Exception):
    """The reference rates could not be fetched or parsed; the message says why."""


def parse_ecb_xml(body: bytes) -> list[tuple[date, str, Decimal]]:
    """(day, currency, units per EUR) for every rate in an ECB eurofxref document; RatesFetchError if malformed."""
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError as exc:
        raise RatesFetchError(f"the rates document is not XML: {exc}") from None
    rows = []
    for day_cube in root.iter(f"{ECB_NS}Cube"):
        raw_day = day_cube.get("time")
        if raw_day is None:
            continue
        try:
            day = date.fromisoformat(raw_day)
        except ValueError:
            raise RatesFetchError(f"bad time attribute {raw_day[:20]!r}") from None
        for cube in day_cube.findall(f"{ECB_NS}Cube"):
            currency = normalize_currency(cube.get("currency") or "")
            try:
                rate = Decimal(cube.get("rate") or "")
            except InvalidOperation:
                continue
            if currency and rate > 0:
                rows.append((day, currency, rate))
    if not rows:
        raise RatesFetchError("the rates document holds no <Cube time=…> rates")
    return rows


def fetch_reference_rates() -> dict:
    """Fetch ECB_RATES_URL and store its rates; {"days": n, "rates": n, "latest": "YYYY-MM-DD"}.

    Raises RatesFetchError on a network error, a non-200 answer or a malformed document.
    """
    url = current_app.config["ECB_RATES_URL"]
    try:
        response = httpx.get(url, timeout=current_app.config["DELIVERY_READ_TIMEOUT"], follow_redirects=True)
    except httpx.HTTPError as exc:
        raise RatesFetchError(f"could not fetch {url}: {exc}") from None
    if response.status_code != 200:
        raise RatesFetchError(f"{url} answered HTTP {response.status_code}")
    rows = parse_ecb_xml(response.content)
    with db.transaction() as conn:
        store.upsert_reference_rates(conn, rows, SOURCE, clock.now())
    days = sorted({r[0] for r in rows})
    log.info("stored %d reference rates for %d days (latest %s)", len(rows), len(days), days[-1])
    return {"days": len(days), "rates": len(rows), "latest": days[-1].isoformat()}


def fetch_reference_rates_task() -> None:
    """The scheduler's periodic fetch: a failure is logged and retried at the next interval."""
    try:
        fetch_reference_rates()
    except RatesFetchError as exc:
        log.warning("reference rates: %s", exc)
