"""SQL for reference rates (global, per EUR) and a space's own rates (1 currency = rate quote)."""
from datetime import date, datetime
from decimal import Decimal

import psycopg

MAX_SPACE_RATES = 500


def upsert_reference_rates(conn: psycopg.Connection, rows: list[tuple[date, str, Decimal]], source: str,
                           now: datetime) -> int:
    """Store (day, currency, units per EUR) rows, replacing a day's earlier value; return how many."""
    if not rows:
        return 0
    conn.execute(
        "INSERT INTO reference_rates (day, currency, per_eur, source, fetched_at)"
        " SELECT d, c, r, %(source)s, %(now)s FROM unnest(%(days)s::date[], %(currencies)s::text[], %(rates)s::numeric[])"
        "   AS t(d, c, r)"
        " ON CONFLICT (day, currency) DO UPDATE SET per_eur = EXCLUDED.per_eur, source = EXCLUDED.source,"
        "   fetched_at = EXCLUDED.fetched_at",
        {"days": [r[0] for r in rows], "currencies": [r[1] for r in rows], "rates": [r[2] for r in rows],
         "source": source, "now": now})
    return len(rows)


def list_reference_rates(conn: psycopg.Connection, first: date, last: date, currencies: list[str]) -> list[dict]:
    """Reference rates (day, currency, per_eur) of `currencies` between two days, oldest first."""
    return conn.execute(
        "SELECT day, currency, per_eur FROM reference_rates"
        " WHERE day BETWEEN %(first)s AND %(last)s AND currency = ANY(%(currencies)s) ORDER BY day",
        {"first": first, "last": last, "currencies": currencies}).fetchall()


def latest_reference_day(conn: psycopg.Connection) -> date | None:
    """The newest day with reference rates, or None."""
    return conn.execute("SELECT max(day) AS day FROM reference_rates").fetchone()["day"]


def upsert_space_rate(conn: psycopg.Connection, space_id: int, day: date, currency: str, quote: str, rate: Decimal,
                      now: datetime) -> dict:
    """Store 1 `currency` = `rate` `quote` on `day` for the space (replacing that day's); return the row."""
    return conn.execute(
        "INSERT INTO space_rates (space_id, day, currency, quote, rate, updated_at)"
        " VALUES (%(space_id)s, %(day)s, %(currency)s, %(quote)s, %(rate)s, %(now)s)"
        " ON CONFLICT (space_id, day, currency, quote) DO UPDATE SET rate = EXCLUDED.rate, updated_at = EXCLUDED.updated_at"
        " RETURNING day, currency, quote, rate",
        {"space_id": space_id, "day": day, "currency": currency, "quote": quote, "rate": rate, "now": now}).fetchone()


def delete_space_rate(conn: psycopg.Connection, space_id: int, day: date, currency: str, quote: str) -> bool:
    """Remove one of the space's rates; True when it existed."""
    return conn.execute(
        "DELETE FROM space_rates WHERE space_id = %(space_id)s AND day = %(day)s AND currency = %(currency)s"
        " AND quote = %(quote)s",
        {"space_id": space_id, "day": day, "currency": currency, "quote": quote}).rowcount > 0


def list_space_rates(conn: psycopg.Connection, space_id: int, first: date | None = None, last: date | None = None,
                     limit: int = MAX_SPACE_RATES) -> list[dict]:
    """The space's own rates (day, currency, quote, rate), newest first, optionally between two days."""
    return conn.execute(
        "SELECT day, currency, quote, rate FROM space_rates WHERE space_id = %(space_id)s"
        " AND (%(first)s::date IS NULL OR day >= %(first)s) AND (%(last)s::date IS NULL OR day <= %(last)s)"
        " ORDER BY day DESC, currency, quote LIMIT %(limit)s",
        {"space_id": space_id, "first": first, "last": last, "limit": min(limit, 100_000)}).fetchall()
