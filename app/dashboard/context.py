"""One `<name>_context(space, filters)` per partial: the page and the partial's own URL both render from it.

Totals are read once per request (flask.g) however many widgets use them.
"""
import math
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from flask import g

from app import db
from app.dashboard import store
from app.delivery import store as delivery_store
from app.lib.countries import country_names
from app.reporting.filters import Filters
from app.report.build import build_report
from app.report.query import DIMENSIONS
from app.reporting import store as reporting

STAGE_LABELS = {"contact": "Contact", "subscribed": "Subscribed", "registration": "Registration",
                "deposit": "Deposit"}
ATTRIBUTION_COLUMNS = ("link", "clicks", "subscribed", "registration", "deposit", "revenue", "click_to_deposit",
                       "revenue_per_click", "cost", "profit", "roi")
MAP_METRICS = ("clicks", "deposits")
WAVE_WIDTH, WAVE_HEIGHT = 600, 140


def rate(part: int, whole: int) -> float | None:
    """part / whole as a fraction, None when whole is zero."""
    return part / whole if whole else None


def _totals(space: dict, filters: Filters) -> dict:
    key = ("totals", space["id"], filters)
    cache = g.setdefault("xt_report_cache", {})
    if key not in cache:
        with db.connection() as conn:
            cache[key] = reporting.totals(conn, space["id"], filters.first_day, filters.last_day, filters.link)
    return cache[key]


def _money(space: dict, filters: Filters, link: str | None) -> dict:
    """Cost, converted revenue, profit and ROI per link and in total (the Reports engine, app/report/build.py)."""
    key = ("money", space["id"], filters, link)
    cache = g.setdefault("xt_report_cache", {})
    if key not in cache:
        report = build_report(space, [DIMENSIONS["link"]], {"link": link} if link else {}, filters.first_day,
                              filters.last_day)
        lines = {line.key["link"]: line for line in report["lines"]}
        cache[key] = {"lines": lines, "totals": report["totals"]}
    return cache[key]


def funnel_context(space: dict, filters: Filters) -> dict:
    """The journeys that started in the range, counted at every stage up to the furthest each reached
    (so the funnel never rises), with step conversion, drop-off, and how many skipped the stage's event."""
    counts = _totals(space, filters)["counts"]
    stages, previous = [], None
    for key, label in STAGE_LABELS.items():
        count = counts.get(f"reach:{key}", 0)
        stages.append({"key": key, "label": label, "count": count, "skipped": counts.get(f"skip:{key}", 0),
                       "step_rate": None if previous is None else rate(count, previous),
                       "drop": None if previous is None else max(previous - count, 0)})
        previous = count
    top = max((s["count"] for s in stages), default=0)
    for s in stages:
        s["width"] = 0 if not top else max(2.0, 100 * s["count"] / top)
    # The leak is the weakest step that loses anyone (a funnel where nobody drops has none).
    worst = min((s for s in stages[1:] if s["step_rate"] is not None and s["step_rate"] < 1),
                key=lambda s: s["step_rate"], default=None)
    return {"stages": stages, "clicks": counts.get("click", 0), "leak": worst["key"] if worst else None}


def gauge_context(space: dict, filters: Filters) -> dict:
    """The step conversions and the overall contact→deposit rate, each as a gauge slide."""
    counts = _totals(space, filters)["counts"]
    c = [counts.get(f"reach:{k}", 0) for k in STAGE_LABELS]
    slides = [
        {"key": "contact-subscribed", "label": "Contact → Subscribed", "rate": rate(c[1], c[0])},
        {"key": "subscribed-registration", "label": "Subscribed → Registration", "rate": rate(c[2], c[1])},
        {"key": "registration-deposit", "label": "Registration → Deposit", "rate": rate(c[3], c[2])},
        {"key": "contact-deposit", "label": "Contact → Deposit (overall)", "rate": rate(c[3], c[0])},
    ]
    for slide in slides:
        shown = min(slide["rate"] or 0.0, 1.0)
        angle = math.pi * (1 - shown)
        slide["x"] = round(100 + 80 * math.cos(angle), 2)
        slide["y"] = round(100 - 80 * math.sin(angle), 2)
    return {"slides": slides}


def _buckets(filters: Filters) -> list:
    if filters.grain == "day":
        return [filters.first_day + timedelta(days=i) for i in range(filters.days)]
    width = timedelta(hours=1) if filters.grain == "hour" else timedelta(minutes=15)
    start = filters.start.astimezone(ZoneInfo("UTC"))
    return [start + i * width for i in range(int((filters.end - filters.start) / width))]


def revenue_context(space: dict, filters: Filters) -> dict:
    """Deposit revenue per currency (main first), deposits, revenue per click, and the waveform."""
    report = _totals(space, filters)
    main = space["currency"]
    revenue = report["revenue"]
    currencies = sorted(revenue.items(), key=lambda kv: (kv[0] != main, -kv[1][1], kv[0]))
    if main not in revenue:
        currencies.insert(0, (main, (0, Decimal(0))))
    clicks = report["counts"].get("click", 0)
    with db.connection() as conn:
        rows = reporting.event_series(conn, space["id"], filters.grain, filters.first_day, filters.last_day,
                                      filters.start, filters.end, filters.link)
    buckets = _buckets(filters)
    index = {b: i for i, b in enumerate(buckets)}
    series = {k: [0] * len(buckets) for k in STAGE_LABELS}
    for row in rows:
        bucket = row["bucket"]
        i = index.get(bucket)
        if i is not None and row["event"] in series:
            series[row["event"]][i] += int(row["n"])
    peak = max((max(v) for v in series.values() if v), default=0) or 1
    step = WAVE_WIDTH / max(len(buckets) - 1, 1)
    lines = []
    for key, values in series.items():
        points = " ".join(f"{round(i * step, 1)},{round(WAVE_HEIGHT - WAVE_HEIGHT * v / peak, 1)}"
                          for i, v in enumerate(values))
        lines.append({"key": key, "label": STAGE_LABELS[key], "points": points, "total": sum(values)})
    zone = ZoneInfo(filters.time_zone)
    labels = [(b.astimezone(zone).strftime("%H:%M") if isinstance(b, datetime) else b.strftime("%b %d"))
              for b in buckets]
    every = max(1, len(buckets) // 6)
    indexes = list(range(0, len(buckets), every))
    if filters.grain == "day" and indexes and indexes[-1] != len(buckets) - 1:
        # The last day (usually today) always has its label; it replaces a neighbour that would crowd it.
        if len(buckets) - 1 - indexes[-1] < every / 2 and len(indexes) > 1:
            indexes.pop()
        indexes.append(len(buckets) - 1)
    last = len(buckets) - 1
    # The first label starts at the left edge and the last ends at the right one, so neither is cut.
    ticks = [{"x": round(i * step, 1), "label": labels[i],
              "anchor": "start" if i == 0 else "end" if i == last else "middle"} for i in indexes]
    money = _money(space, filters, filters.link)["totals"]
    return {"currencies": [{"code": code, "deposits": n, "amount": amount,
                            "per_click": (amount / clicks) if clicks else None} for code, (n, amount) in currencies],
            "cost": money.row.cost, "cost_main": money.metrics["cost"], "revenue_main": money.row.revenue,
            "profit": money.metrics["profit"], "roi": money.metrics["roi"],
            "main": main, "deposits": report["counts"].get("event:deposit", 0), "clicks": clicks,
            "wave": {"lines": lines, "ticks": ticks, "width": WAVE_WIDTH, "height": WAVE_HEIGHT,
                     "grain": filters.grain, "peak": peak if rows else 0}}


def map_context(space: dict, filters: Filters, metric: str = "clicks") -> dict:
    """Clicks or depositing journeys per country, as shading levels 1-5, and the top countries."""
    metric = metric if metric in MAP_METRICS else "clicks"
    with db.connection() as conn:
        rows = reporting.countries(conn, space["id"], filters.first_day, filters.last_day, filters.link)
    names = country_names()
    values = [{"code": r["country"], "name": names.get(r["country"], r["country"]),
               "clicks": int(r["clicks"] or 0), "deposits": int(r["deposits"] or 0)} for r in rows]
    top_value = max((v[metric] for v in values), default=0)
    for v in values:
        v["level"] = 0 if not v[metric] else 1 + min(4, int(4 * math.sqrt(v[metric] / top_value)))
    ranked = sorted((v for v in values if v[metric]), key=lambda v: (-v[metric], v["code"]))
    return {"metric": metric, "countries": [v for v in values if v["level"]], "top": ranked[:10]}


# Row keys of the attribution table that are not links of the space.
NO_LINK, UNKNOWN_LINK = "", "?"


def ordered_currencies(amounts: dict[str, Decimal], main: str) -> list[tuple[str, Decimal]]:
    """(currency, amount) pairs: the main currency first (even at zero), then the others, largest first."""
    pairs = sorted(((c, a) for c, a in amounts.items() if c != main), key=lambda p: (-p[1], p[0]))
    return [(main, amounts.get(main, Decimal(0)))] + pairs


def attribution_context(space: dict, filters: Filters, sort: str = "deposit", direction: str = "desc") -> dict:
    """Per link: clicks, journeys reaching subscribed / registration / deposit (as in the funnel), revenue
    in every currency (main first), click→deposit and revenue per click per currency; sorted, with a
    total row equal to the deck's headline figures.

    Journeys without a click count under "(no link)"; clicks whose link is not (or no longer) a link of
    the space, e.g. sent to POST /clicks with a made-up slug, under "(unknown link)".
    """
    sort = sort if sort in ATTRIBUTION_COLUMNS else "deposit"
    direction = "asc" if direction == "asc" else "desc"
    main = space["currency"]
    with db.connection() as conn:
        links = reporting.list_links(conn, space["id"])
        rows = reporting.links(conn, space["id"], filters.first_day, filters.last_day)
    known = {l["slug"] for l in links}
    table: dict[str, dict] = {l["slug"]: _link_row(l["slug"], l["name"]) for l in links}
    total = _link_row("*", "Total")
    for row in rows:
        slug = row["link_slug"] if row["link_slug"] in known or row["link_slug"] == NO_LINK else UNKNOWN_LINK
        entry = table.setdefault(slug, _link_row(slug, None))
        for target in (entry, total):
            if row["kind"] == "click":
                target["clicks"] += int(row["n"])
            elif row["kind"] == "revenue":
                target["amounts"][row["currency"]] = target["amounts"].get(row["currency"], Decimal(0)) + row["amount"]
            elif row["kind"].startswith("reach:"):
                target[row["kind"][6:]] += int(row["n"])
    money = _money(space, filters, None)
    result = [_finish_row(entry, main, money["lines"].get(entry["slug"])) for entry in table.values()]
    _finish_row(total, main, money["totals"])
    if sort == "link":
        result.sort(key=lambda e: (e["slug"] in (NO_LINK, UNKNOWN_LINK), e["name"].lower()),
                    reverse=direction == "desc")
    else:
        result.sort(key=lambda e: (e[sort] is not None, e[sort] or 0), reverse=direction == "desc")
    return {"rows": result, "total": total, "sort": sort, "direction": direction, "main": main}


def _finish_row(entry: dict, main: str, line=None) -> dict:
    """Rates, currencies (main first) and the cost, profit and ROI of the Reports engine's `line`."""
    entry["cost_money"] = line.row.cost if line else None
    entry["cost"] = line.metrics["cost"] if line else Decimal(0)
    entry["profit"] = line.metrics["profit"] if line else None
    entry["roi"] = line.metrics["roi"] if line else None
    entry["click_to_deposit"] = rate(entry["deposit"], entry["clicks"])
    entry["currencies"] = [{"code": code, "amount": amount,
                            "per_click": (amount / entry["clicks"]) if entry["clicks"] else None}
                           for code, amount in ordered_currencies(entry["amounts"], main)]
    entry["revenue"] = entry["currencies"][0]["amount"]
    entry["revenue_per_click"] = entry["currencies"][0]["per_click"]
    return entry


def _link_row(slug: str, name: str | None) -> dict:
    fallback = {NO_LINK: "(no link)", UNKNOWN_LINK: "(unknown link)"}.get(slug, slug)
    return {"slug": slug, "name": name or fallback, "clicks": 0, "contact": 0, "subscribed": 0,
            "registration": 0, "deposit": 0, "amounts": {}}


def feed_context(space: dict, filters: Filters) -> dict:
    """The newest events for the live feed (the socket adds newer ones on top), with delivery badges."""
    with db.connection() as conn:
        rows = store.list_feed_rows(conn, space["id"], filters.link)
        badges = store.list_event_badges(conn, space["id"], [r["id"] for r in rows])
    by_event: dict[int, list[dict]] = {}
    for badge in badges:
        by_event.setdefault(badge["event_id"], []).append(badge)
    return {"rows": [feed_row(r, by_event.get(r["id"], []), space["time_zone"]) for r in rows]}


def feed_row(row: dict, badges: list[dict], time_zone: str) -> dict:
    """A feed row ready for templates/dashboard/_feed_row.html; its time is shown in `time_zone`."""
    return {"badges": badges, "id": str(row["id"]), "event": row["event"], "uid": row["uid"] or "",
            "short_uid": (row["uid"] or "—")[:8], "value": row["value"], "currency": row["currency"],
            "link": row["link_slug"] or "", "country": row["country"] or "",
            "at": datetime.fromtimestamp(row["occurred_at_ms"] / 1000, ZoneInfo("UTC")),
            "time_zone": time_zone, "test": bool(row.get("test")), "flags": list(row["flags"] or [])}



def matrix_context(space: dict, filters: Filters) -> dict:
    """Destinations × the four events, each cell with delivered / pending / failed / dead counts.

    A deleted destination stays while the range holds deliveries of it (its history stays readable)."""
    with db.connection() as conn:
        destinations = delivery_store.list_destinations(conn, space["id"], include_deleted=True)
        # From the matrix rollup (whole local days, as the filters always are), folded first.
        delivery_store.fold_matrix(conn, space["id"])
        counts = delivery_store.summarize_matrix_days(conn, space["id"], filters.first_day, filters.last_day)
    with_history = {row["destination_id"] for row in counts}
    destinations = [d for d in destinations if d.deleted_at is None or d.id in with_history]
    cells = {(d.id, e): dict.fromkeys(delivery_store.STATUSES, 0) for d in destinations for e in STAGE_LABELS}
    for row in counts:
        cell = cells.get((row["destination_id"], row["event"]))
        if cell is not None:
            cell[row["status"]] = int(row["count"])
    return {"destinations": destinations, "events": list(STAGE_LABELS), "cells": cells}


def cell_context(space: dict, filters: Filters, destination_id: int, event: str) -> dict:
    """The failed and dead deliveries of one matrix cell, with last error (NotFound for another space's)."""
    with db.connection() as conn:
        destination = delivery_store.get_destination(conn, space["id"], destination_id, include_deleted=True)
        rows = delivery_store.list_cell_deliveries(conn, space["id"], destination_id, event,
                                                   statuses=("failed", "dead"), start=filters.start, end=filters.end)
    return {"destination": destination, "event": event, "rows": rows}


def attempts_context(space: dict, delivery_id: int) -> dict:
    """One delivery and its attempt log with request/response excerpts (NotFound for another space's)."""
    with db.connection() as conn:
        delivery = delivery_store.get_delivery(conn, space["id"], delivery_id)
        attempts = delivery_store.list_attempts(conn, space["id"], delivery_id)
    return {"delivery": delivery, "attempts": attempts}
