"""Storing a batch of cost entries: validate each, check links exist, store the valid ones together."""
from datetime import date

from app import db
from app.cost import store
from app.cost.parse import CostEntry, CostError, entry_json, parse_cost
from app.lib import clock


def store_costs(space_id: int, raws: list, today: date, source: str) -> tuple[list[dict], list[dict]]:
    """Validate and store cost entries; return (stored, errors).

    stored: the API shape of each stored entry plus `replaced` (true when it replaced an amount);
    errors: {"index": i, "error": reason} per refused entry. Valid entries are stored even when
    others are refused (one bad row never takes its neighbours down).
    """
    parsed: list[tuple[int, CostEntry]] = []
    errors: list[dict] = []
    for i, raw in enumerate(raws):
        try:
            parsed.append((i, parse_cost(raw, today)))
        except CostError as exc:
            errors.append({"index": i, "error": str(exc)})
    return _store(space_id, parsed, errors, source)


def store_entries(space_id: int, entries: list[tuple[int, CostEntry]], source: str) -> tuple[list[dict], list[dict]]:
    """Store already-parsed entries (index, entry); same answer as store_costs()."""
    return _store(space_id, entries, [], source)


def _store(space_id: int, parsed: list[tuple[int, CostEntry]], errors: list[dict], source: str):
    with db.transaction() as conn:
        slugs = sorted({e.scope_id for _, e in parsed if e.scope == "link"})
        known = store.existing_link_slugs(conn, space_id, slugs) if slugs else set()
        valid: list[tuple[int, CostEntry]] = []
        for i, entry in parsed:
            if entry.scope == "link" and entry.scope_id not in known:
                errors.append({"index": i, "error": f"no link {entry.scope_id[:64]!r} in this space"})
            else:
                valid.append((i, entry))
        # The last of several entries for one (date, scope) wins, as if they had been sent one by one.
        last: dict[tuple, tuple[int, CostEntry]] = {}
        for i, entry in valid:
            last[(entry.day, entry.scope, entry.scope_id)] = (i, entry)
        ordered = sorted(last.values(), key=lambda item: item[0])
        replaced = store.upsert_costs(conn, space_id, [e for _, e in ordered], source, clock.now())
    stored = [entry_json(e, replaced=r) for (_, e), r in zip(ordered, replaced)]
    errors.sort(key=lambda e: e["index"])
    return stored, errors
