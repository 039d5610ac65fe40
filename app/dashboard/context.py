"""One `<name>_context(space, filters)` per partial: the page and the partial's own URL both render from it.

Totals are read once per request (flask.g) however many widgets use them.
"""
import json
import math
from datetime import datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from flask import g

from app import db
from app.dashboard import store
from app.delivery import store as delivery_store
from app.dashboard.filters import Filters
from app.report.build import build_report
from app.report.query import DIMENSIONS
from app.reporting import store as reporting

STAGE_LABELS = {"contact": "Contact", "subscribed": "Subscribed", "registration": "Registration",
                "deposit": "Deposit"}
ATTRIBUTION_COLUMNS = ("link", "clicks", "subscribed", "registration", "deposit", "revenue", "click_to_deposit",
                       "revenue_per_click", "cost", "profit", "roi")
MAP_METRICS = ("clicks", "deposits")
WAVE_WIDTH, WAVE_HEIGHT = 600, 140
COUNTRY_NAMES_FILE = Path(__file__).resolve().parent.parent.parent / "static" / "img" / "countries.json"


@lru_cache(maxsize=1)
def country_names() -> dict[str, str]:
    """ISO 3166 alpha-2 → English short name (from the map asset's build)."""
    return json.loads(COUNTRY_NAMES_FILE.read_text())


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
    """Unique journeys per stage with step conversion and drop-off."""
    counts = _totals(space, filters)["counts"]
    stages, previous = [], None
    for key, label in STAGE_LABELS.items():
        count = counts.get(f"stage:{key}", 0)
        stages.append({"key": key, "label": label, "count": count,
                       "step_rate": None if previous is None else rate(count, previous),
                       "drop": None if previous is None else max(previous - count, 0)})
        previous = count
    top = max((s["count"] for s in stages), default=0)
    for s in stages:
        s["width"] = 0 if not top else max(2.0, 100 * s["count"] / top)
    worst = min((s for s in stages[1:] if s["step_rate"] is not None), key=lambda s: s["step_rate"], default=None)
    return {"stages": stages, "clicks": counts.get("click", 0), "leak": worst["key"] if worst else None}


def gauge_context(space: dict, filters: Filters) -> dict:
    """The step conversions and the overall contact→deposit rate, each as a gauge slide."""
    counts = _totals(space, filters)["counts"]
    c = [counts.get(f"stage:{k}", 0) for k in STAGE_LABELS]
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
    main_amount = revenue.get(main, (0, Decimal(0)))[1]
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
    ticks = [{"x": round(i * step, 1), "label": labels[i]}
             for i in range(0, len(buckets), max(1, len(buckets) // 6))]
    money = _money(space, filters, filters.link)["totals"]
    return {"currencies": [{"code": code, "deposits": n, "amount": amount} for code, (n, amount) in currencies],
            "cost": money.row.cost, "cost_main": money.metrics["cost"], "revenue_main": money.row.revenue,
            "profit": money.metrics["profit"], "roi": money.metrics["roi"],
            "main": main, "deposits": report["counts"].get("event:deposit", 0), "clicks": clicks,
            "revenue_per_click": (main_amount / clicks) if clicks else None,
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


def attribution_context(space: dict, filters: Filters, sort: str = "deposit", direction: str = "desc") -> dict:
    """Per link: clicks, subscribed, registrations, deposits, main-currency revenue, rates; sorted."""
    sort = sort if sort in ATTRIBUTION_COLUMNS else "deposit"
    direction = "asc" if direction == "asc" else "desc"
    main = space["currency"]
    with db.connection() as conn:
        links = reporting.list_links(conn, space["id"])
        rows = reporting.links(conn, space["id"], [l["slug"] for l in links] + [""], filters.first_day,
                               filters.last_day)
    table: dict[str, dict] = {l["slug"]: _link_row(l["slug"], l["name"]) for l in links}
    for row in rows:
        entry = table.setdefault(row["link_slug"], _link_row(row["link_slug"], None))
        if row["kind"] == "click":
            entry["clicks"] += int(row["n"])
        elif row["kind"] == "revenue":
            if row["currency"] == main:
                entry["revenue"] += row["amount"]
            else:
                entry["other_currencies"].add(row["currency"])
        elif row["kind"].startswith("stage:"):
            entry[row["kind"][6:]] += int(row["n"])
    result = []
    money = _money(space, filters, None)["lines"]
    for entry in table.values():
        line = money.get(entry["slug"])
        entry["cost_money"] = line.row.cost if line else None
        entry["cost"] = line.metrics["cost"] if line else Decimal(0)
        entry["profit"] = line.metrics["profit"] if line else None
        entry["roi"] = line.metrics["roi"] if line else None
        entry["click_to_deposit"] = rate(entry["deposit"], entry["clicks"])
        entry["revenue_per_click"] = (entry["revenue"] / entry["clicks"]) if entry["clicks"] else None
        entry["other_currencies"] = sorted(entry["other_currencies"])
        result.append(entry)
    if sort == "link":
        result.sort(key=lambda e: (e["slug"] == "", e["name"].lower()), reverse=direction == "desc")
    else:
        result.sort(key=lambda e: (e[sort] is not None, e[sort] or 0), reverse=direction == "desc")
    return {"rows": result, "sort": sort, "direction": direction, "main": main}


def _link_row(slug: str, name: str | None) -> dict:
    return {"slug": slug, "name": name or (slug or "(no link)"), "clicks": 0, "contact": 0, "subscribed": 0,
            "registration": 0, "deposit": 0, "revenue": Decimal(0), "other_currencies": set()}


def feed_context(space: dict, filters: Filters) -> dict:
    """The newest events for the live feed (the socket adds newer ones on top), with delivery badges."""
    with db.connection() as conn:
        rows = store.list_feed_rows(conn, space["id"], filters.link)
        badges = store.list_event_badges(conn, space["id"], [r["id"] for r in rows])
    by_event: dict[int, list[dict]] = {}
    for badge in badges:
        by_event.setdefault(badge["event_id"], []).append(badge)
    return {"rows": [feed_row(r, by_event.get(r["id"], [])) for r in rows]}


def feed_row(row: dict, badges: list[dict]) -> dict:
    """A feed row ready for templates/dashboard/_feed_row.html."""
    return {"badges": badges, "id": str(row["id"]), "event": row["event"], "uid": row["uid"] or "",
            "short_uid": (row["uid"] or "—")[:8], "value": row["value"], "currency": row["currency"],
            "link": row["link_slug"] or "", "country": row["country"] or "",
            "at": datetime.fromtimestamp(row["occurred_at_ms"] / 1000).astimezone(ZoneInfo("UTC")),
            "flags": list(row["flags"] or [])}



def matrix_context(space: dict, filters: Filters) -> dict:
    """Destinations × the four events, each cell with delivered / pending / failed / dead counts."""
    with db.connection() as conn:
        destinations = delivery_store.list_destinations(conn, space["id"])
        counts = delivery_store.summarize_matrix(conn, space["id"], filters.start, filters.end)
    cells = {(d["id"], e): dict.fromkeys(delivery_store.STATUSES, 0) for d in destinations for e in STAGE_LABELS}
    for row in counts:
        cell = cells.get((row["destination_id"], row["event"]))
        if cell is not None:
            cell[row["status"]] = int(row["count"])
    return {"destinations": destinations, "events": list(STAGE_LABELS), "cells": cells}


def cell_context(space: dict, filters: Filters, destination_id: int, event: str) -> dict:
    """The failed and dead deliveries of one matrix cell, with last error (NotFound for another space's)."""
    with db.connection() as conn:
        destination = delivery_store.get_destination(conn, space["id"], destination_id)
        rows = delivery_store.list_cell_deliveries(conn, space["id"], destination_id, event,
                                                   statuses=("failed", "dead"), start=filters.start, end=filters.end)
    return {"destination": destination, "event": event, "rows": rows}


def attempts_context(space: dict, delivery_id: int) -> dict:
    """One delivery and its attempt log with request/response excerpts (NotFound for another space's)."""
    with db.connection() as conn:
        delivery = delivery_store.get_delivery(conn, space["id"], delivery_id)
        attempts = delivery_store.list_attempts(conn, space["id"], delivery_id)
    return {"delivery": delivery, "attempts": attempts}
