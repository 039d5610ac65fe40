"""Conversion to a space's main currency at the rate of the amount's day (docs/costs.md#currencies).

The one rule for a rate, in order:
1. the same currency: 1;
2. the space's own rate between the two currencies (either direction);
3. the reference rates (ECB, per EUR): main per EUR / currency per EUR, both of one publication day;
4. the space's own rate to a third currency, then that currency by 3.
Each source's rate is the latest published on or before the day, at most RATE_MAX_AGE_DAYS older
(reference rates are not published on weekends and holidays). Otherwise the rate is missing: the
amount is shown as missing, never as zero.
"""
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import psycopg

from app.rate import store

EUR = "EUR"


@dataclass(frozen=True)
class RateTable:
    """Rates to `main` for every (day, currency) asked for; None where missing."""

    main: str
    factors: dict[tuple[date, str], Decimal | None]

    def factor(self, day: date, currency: str) -> Decimal | None:
        """Main-currency units per unit of `currency` on `day`, or None when no rate is known."""
        if currency == self.main:
            return Decimal(1)
        return self.factors.get((day, currency))

    def convert(self, day: date, currency: str, amount: Decimal) -> Decimal | None:
        """`amount` of `currency` on `day` in the main currency, or None when the rate is missing."""
        f = self.factor(day, currency)
        return None if f is None else amount * f

    def arrays(self) -> dict:
        """The table as parallel arrays (fx_days, fx_currencies, fx_rates) for SQL's unnest()."""
        items = [(d, c, f) for (d, c), f in self.factors.items()]
        return {"fx_days": [i[0] for i in items], "fx_currencies": [i[1] for i in items],
                "fx_rates": [i[2] for i in items]}


def _latest(series: dict[date, Decimal], day: date, max_age: int) -> Decimal | None:
    for back in range(max_age + 1):
        value = series.get(day - timedelta(days=back))
        if value is not None:
            return value
    return None


def rate_table(conn: psycopg.Connection, space_id: int, main: str, currencies: set[str], first: date, last: date,
               max_age: int) -> RateTable:
    """Rates to `main` for each currency in `currencies` on each day of [first, last]."""
    others = sorted(c for c in currencies if c != main)
    if not others:
        return RateTable(main, {})
    since = first - timedelta(days=max_age)
    own: dict[tuple[str, str], dict[date, Decimal]] = {}
    for row in store.list_space_rates(conn, space_id, since, last, limit=100_000):
        own.setdefault((row["currency"], row["quote"]), {})[row["day"]] = Decimal(row["rate"])
    quotes = {q for (_, q) in own}
    wanted = sorted(set(others) | {main} | quotes)
    reference: dict[str, dict[date, Decimal]] = {EUR: {}}
    ref_days: set[date] = set()
    for row in store.list_reference_rates(conn, since, last, wanted):
        reference.setdefault(row["currency"], {})[row["day"]] = Decimal(row["per_eur"])
        ref_days.add(row["day"])
    for d in ref_days:
        reference[EUR][d] = Decimal(1)

    def via_reference(day: date, currency: str, target: str) -> Decimal | None:
        if currency == target:
            return Decimal(1)
        for back in range(max_age + 1):
            d = day - timedelta(days=back)
            if d in ref_days:
                a, b = reference.get(currency, {}).get(d), reference.get(target, {}).get(d)
                return b / a if a is not None and b is not None else None
        return None

    def direct(day: date, currency: str, target: str) -> Decimal | None:
        forward = own.get((currency, target))
        if forward:
            value = _latest(forward, day, max_age)
            if value is not None:
                return value
        backward = own.get((target, currency))
        if backward:
            value = _latest(backward, day, max_age)
            if value is not None:
                return 1 / value
        return None

    factors: dict[tuple[date, str], Decimal | None] = {}
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    for currency in others:
        for day in days:
            f = direct(day, currency, main)
            if f is None:
                f = via_reference(day, currency, main)
            if f is None:
                for (c, q), series in own.items():
                    if c != currency or q == main:
                        continue
                    hop = _latest(series, day, max_age)
                    onward = direct(day, q, main) or via_reference(day, q, main)
                    if hop is not None and onward is not None:
                        f = hop * onward
                        break
            factors[(day, currency)] = f
    return RateTable(main, factors)
