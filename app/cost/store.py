"""SQL for costs. Every function takes space_id first and filters on it."""
from datetime import date, datetime

import psycopg

from app.cost.parse import CostEntry

MAX_LIST = 2000


def upsert_costs(conn: psycopg.Connection, space_id: int, entries: list[CostEntry], source: str,
                 now: datetime) -> list[bool]:
    """Store each entry, replacing the amount of an existing (day, scope, id); per entry, True when it replaced one."""
    replaced = []
    for e in entries:
        row = conn.execute(
            "INSERT INTO costs AS c (space_id, day, scope, scope_id, amount, currency, source, updated_at)"
            " VALUES (%(space_id)s, %(day)s, %(scope)s, %(scope_id)s, %(amount)s, %(currency)s, %(source)s, %(now)s)"
            " ON CONFLICT (space_id, day, scope, scope_id) DO UPDATE SET amount = EXCLUDED.amount,"
            "   currency = EXCLUDED.currency, source = EXCLUDED.source, updated_at = EXCLUDED.updated_at"
            " RETURNING (xmax <> 0) AS replaced",
            {"space_id": space_id, "day": e.day, "scope": e.scope, "scope_id": e.scope_id, "amount": e.amount,
             "currency": e.currency, "source": source, "now": now}).fetchone()
        replaced.append(bool(row["replaced"]))
    return replaced


def delete_cost(conn: psycopg.Connection, space_id: int, day: date, scope: str, scope_id: str) -> bool:
    """Remove one cost; True when it existed."""
    return conn.execute(
        "DELETE FROM costs WHERE space_id = %(space_id)s AND day = %(day)s AND scope = %(scope)s"
        " AND scope_id = %(scope_id)s",
        {"space_id": space_id, "day": day, "scope": scope, "scope_id": scope_id}).rowcount > 0


def list_costs(conn: psycopg.Connection, space_id: int, first: date, last: date, limit: int = MAX_LIST) -> list[dict]:
    """Costs between two days, newest first: day, scope, scope_id, amount, currency, source, updated_at."""
    return conn.execute(
        "SELECT day, scope, scope_id, amount, currency, source, updated_at FROM costs"
        " WHERE space_id = %(space_id)s AND day BETWEEN %(first)s AND %(last)s"
        " ORDER BY day DESC, scope, scope_id LIMIT %(limit)s",
        {"space_id": space_id, "first": first, "last": last, "limit": min(limit, MAX_LIST)}).fetchall()


def existing_link_slugs(conn: psycopg.Connection, space_id: int, slugs: list[str]) -> set[str]:
    """Which of `slugs` are links of the space."""
    rows = conn.execute("SELECT slug FROM links WHERE space_id = %(space_id)s AND slug = ANY(%(slugs)s)",
                        {"space_id": space_id, "slugs": slugs}).fetchall()
    return {r["slug"] for r in rows}


def cost_currencies(conn: psycopg.Connection, space_id: int, first: date, last: date) -> set[str]:
    """Currencies of the space's costs between two days."""
    rows = conn.execute("SELECT DISTINCT currency FROM costs WHERE space_id = %(space_id)s"
                        " AND day BETWEEN %(first)s AND %(last)s",
                        {"space_id": space_id, "first": first, "last": last}).fetchall()
    return {r["currency"] for r in rows}
