"""Reports and cohorts as the screen, the JSON API and CSV show them: rows with labels, derived metrics, totals.

Money: every revenue and cost is kept per original currency and summed in the space's main
currency at the rate of its day (app/rate/convert.py); a sum with a missing rate is None ("missing"),
never a partial sum. Amounts leave as strings: money with 2 decimals, per-unit figures with 4.
"""
import csv
import io
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext

from flask import current_app

from app import db
from app.rate.convert import rate_table
from app.report import query
from app.reporting import store as reporting
from app.report.query import COUNTS, NO_CLICKS, NOT_SPLIT, Dimension, Money, ReportRow

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# (key, label, kind): kind count | money | ratio | unit (money per one thing).
COLUMNS = (
    ("clicks", "Clicks", "count"), ("contacts", "Contacts", "count"), ("subscribed", "Subscribed", "count"),
    ("registrations", "Registrations", "count"), ("deposits", "Deposits", "count"),
    ("first_deposits", "First deposits", "count"), ("revenue", "Revenue", "money"), ("cost", "Cost", "money"),
    ("profit", "Profit", "money"), ("roi", "ROI", "ratio"),
    ("cr_contact", "CR click→contact", "ratio"), ("cr_subscribed", "CR contact→subscribed", "ratio"),
    ("cr_registration", "CR subscribed→registration", "ratio"),
    ("cr_first_deposit", "CR registration→first deposit", "ratio"),
    ("cr_click_first_deposit", "CR click→first deposit", "ratio"),
    ("revenue_per_click", "Revenue / click", "unit"), ("cost_per_click", "Cost / click", "unit"),
    ("cost_per_subscriber", "Cost / subscriber", "unit"), ("cost_per_registration", "Cost / registration", "unit"),
    ("cost_per_deposit", "Cost / deposit", "unit"), ("cost_per_first_deposit", "Cost / first deposit", "unit"),
)
COLUMN_KEYS = tuple(c[0] for c in COLUMNS)
TIME_DIMENSIONS = ("day", "hour", "weekday")
COHORT_BUCKETS = (0, 1, 7, 30)
COHORT_BASES = ("click", "registration")
CENT = Decimal("0.01")
UNIT = Decimal("0.0001")


def money_text(value: Decimal | None, places: Decimal = CENT) -> str | None:
    """Decimal → '12.50' (or 4 decimals for per-unit figures); None stays None."""
    if value is None:
        return None
    # Enough digits for any figure the rollups can hold (an amount below 1e15 times a rate below 1e12,
    # summed over many rows), so quantize never runs out of precision (decimal.InvalidOperation).
    with localcontext() as context:
        context.prec = max(context.prec, value.adjusted() + 12)
        return str(value.quantize(places, rounding=ROUND_HALF_UP))


def _ratio(part, whole) -> float | None:
    if part is None or whole is None or not whole:
        return None
    return float(part) / float(whole)


def _per(amount: Decimal | None, count: int) -> Decimal | None:
    return None if amount is None or not count else amount / count


def derive(row: ReportRow) -> dict:
    """Counts, money and every derived metric of a row (Decimals and floats; None where undefined)."""
    c = row.counts
    revenue, cost = row.revenue.converted, row.cost.converted
    profit = None if revenue is None or cost is None else revenue - cost
    return {
        **c, "revenue": revenue, "cost": cost, "profit": profit,
        "roi": _ratio(profit, cost) if cost else None,
        "cr_contact": _ratio(c["contacts"], c["clicks"]), "cr_subscribed": _ratio(c["subscribed"], c["contacts"]),
        "cr_registration": _ratio(c["registrations"], c["subscribed"]),
        "cr_first_deposit": _ratio(c["first_deposits"], c["registrations"]),
        "cr_click_first_deposit": _ratio(c["first_deposits"], c["clicks"]),
        "revenue_per_click": _per(revenue, c["clicks"]), "cost_per_click": _per(cost, c["clicks"]),
        "cost_per_subscriber": _per(cost, c["subscribed"]), "cost_per_registration": _per(cost, c["registrations"]),
        "cost_per_deposit": _per(cost, c["deposits"]), "cost_per_first_deposit": _per(cost, c["first_deposits"]),
    }


@dataclass
class Line:
    """A shown row: key and label per dimension, level (1, or 2 under a two-level grouping), figures."""

    key: dict
    label: dict
    level: int
    row: ReportRow
    metrics: dict
    children: list


def _label(dim: Dimension, key: str | None, names: dict) -> str:
    if key == NO_CLICKS:
        return "(costs of days without clicks in their scope)"
    if key == NOT_SPLIT:
        return "(costs per campaign / ad set / ad: not split by country or hour)"
    if key is None:
        return ""
    if key == "":
        return "(no link)" if dim.name == "link" else "(none)"
    if dim.name == "hour":
        return f"{int(key):02d}:00–{int(key):02d}:59"
    if dim.name == "weekday":
        return WEEKDAYS[int(key) - 1]
    if dim.name == "country":
        return names.get(key, key)
    if dim.name in ("link", "campaign", "adset", "ad"):
        name = names.get(key)
        return f"{name} ({key})" if name and name != key and dim.name != "link" else (name or key)
    return key


def _sort_value(line: Line, sort: str, dims: list[Dimension]):
    if sort == "key":
        key = line.row.key[line.level - 1]
        special = key in (NO_CLICKS, NOT_SPLIT) or key is None
        dim = dims[line.level - 1]
        if special:
            return (1, 0, "")
        if dim.name in ("hour", "weekday"):
            return (0, int(key), "")
        return (0, 0, line.label[dim.name].lower() if dim.name not in TIME_DIMENSIONS else key)
    value = line.metrics[sort]
    return (value is not None, value if value is not None else 0)


def build_report(space: dict, dims: list[Dimension], filters: dict[str, str], first: date, last: date,
                 sort: str | None = None, direction: str | None = None) -> dict:
    """The report: {"lines": [Line…] (two-level: level-1 subtotals with children), "totals": Line, …}."""
    with db.connection() as conn:
        query.fold(conn, space["id"])
        reporting.fold(conn, space["id"])  # the currencies are read from the deck's rollup
        currencies = query.currencies_in_range(conn, space["id"], first, last)
        rates = rate_table(conn, space["id"], space["currency"], currencies, first, last,
                           current_app.config["RATE_MAX_AGE_DAYS"])
        rows = query.read_report(conn, space["id"], dims, filters, first, last, rates)
        names = {}
        for dim in dims:
            keys = sorted({r.key[dims.index(dim)] for r in rows} - {None, "", NO_CLICKS, NOT_SPLIT})
            if dim.name == "country":
                from app.lib.countries import country_names
                names[dim.name] = country_names()
            elif dim.name in ("link", "campaign", "adset", "ad"):
                names[dim.name] = query.list_labels(conn, space["id"], dim.name, keys)
            else:
                names[dim.name] = {}
    default_sort = "key" if dims[0].name in TIME_DIMENSIONS else "clicks"
    sort = sort if sort in COLUMN_KEYS or sort == "key" else default_sort
    direction = direction if direction in ("asc", "desc") else ("asc" if sort == "key" else "desc")

    def line(row: ReportRow, level: int) -> Line:
        keys = row.key[:level]
        return Line({d.name: k for d, k in zip(dims, keys)},
                    {d.name: _label(d, k, names[d.name]) for d, k in zip(dims, keys)},
                    level, row, derive(row), [])

    totals_row = ReportRow(("total", None))
    for r in rows:
        totals_row.merge(r)
    if len(dims) == 1:
        lines = [line(r, 1) for r in rows]
    else:
        groups: dict[str, ReportRow] = {}
        children: dict[str, list[ReportRow]] = {}
        for r in rows:
            groups.setdefault(r.key[0], ReportRow((r.key[0], None))).merge(r)
            children.setdefault(r.key[0], []).append(r)
        lines = []
        for k1, group in groups.items():
            parent = line(group, 1)
            parent.children = [line(r, 2) for r in children[k1]]
            lines.append(parent)
    reverse = direction == "desc"
    # Rows equal by the sort column keep the order of their keys (whichever rollups they were read from).
    lines.sort(key=lambda l: _sort_value(l, "key", dims))
    for parent in lines:
        parent.children.sort(key=lambda l: _sort_value(l, "key", dims))
    lines.sort(key=lambda l: _sort_value(l, sort, dims), reverse=reverse)
    for parent in lines:
        parent.children.sort(key=lambda l: _sort_value(l, sort, dims), reverse=reverse)
    # Rows holding costs no row could take stay last.
    lines.sort(key=lambda l: l.row.key[0] in (NO_CLICKS, NOT_SPLIT))
    totals = Line({}, {}, 0, totals_row, derive(totals_row), [])
    return {"dims": dims, "filters": filters, "first": first, "last": last, "lines": lines, "totals": totals,
            "sort": sort, "direction": direction, "main": space["currency"], "time_zone": space["time_zone"]}


def money_json(money: Money, main: str) -> dict:
    """{"amount": main-currency sum or null, "currency", "missing_rates", "original": {currency: amount}}."""
    return {"amount": money_text(money.converted), "currency": main, "missing_rates": sorted(money.missing),
            "original": {c: money_text(a) for c, a in sorted(money.original.items()) if a}}


def metrics_json(line: Line, main: str) -> dict:
    """A line's figures in the API's shape."""
    m = line.metrics
    out: dict = {k: m[k] for k in COUNTS}
    out["revenue"] = money_json(line.row.revenue, main)
    out["cost"] = money_json(line.row.cost, main)
    out["profit"] = money_text(m["profit"])
    for key, _, kind in COLUMNS:
        if kind == "ratio":
            out[key] = None if m[key] is None else round(m[key], 6)
        elif kind == "unit":
            out[key] = money_text(m[key], UNIT)
    return out


def _line_json(line: Line, main: str) -> dict:
    out = {"key": line.key, "label": line.label, **metrics_json(line, main)}
    if line.key and next(iter(line.key.values())) in (NO_CLICKS, NOT_SPLIT):
        out["key"] = {k: None for k in line.key}
        out["unattributed_cost"] = True
    return out


def report_json(space: dict, report: dict) -> dict:
    """GET /reports' answer: the space, range, grouping, rows (flat; level-2 rows under two dimensions) and totals."""
    main = report["main"]
    flat = []
    subtotals = []
    for parent in report["lines"]:
        if parent.children:
            subtotals.append(_line_json(parent, main))
            flat.extend(_line_json(child, main) for child in parent.children)
        else:
            flat.append(_line_json(parent, main))
    answer = {"ok": True, "space": space["slug"], "time_zone": report["time_zone"], "currency": main,
              "from": report["first"].isoformat(), "to": report["last"].isoformat(),
              "group_by": [d.name for d in report["dims"]], "filters": report["filters"],
              "sort": report["sort"], "dir": report["direction"], "rows": flat}
    if len(report["dims"]) == 2:
        answer["subtotals"] = subtotals
    answer["totals"] = metrics_json(report["totals"], main)
    return answer


def _flat(money: dict) -> tuple[str, str, str]:
    original = "; ".join(f"{c} {a}" for c, a in money["original"].items())
    return money["amount"] if money["amount"] is not None else "missing", " ".join(money["missing_rates"]), original


def report_csv(answer: dict) -> str:
    """The JSON answer as CSV (Python's csv module): one line per row, then the totals line."""
    out = io.StringIO()
    writer = csv.writer(out)
    dims = answer["group_by"]
    header = []
    for d in dims:
        header += [d, f"{d}_name"]
    header += list(COUNTS) + ["revenue", "revenue_missing_rates", "revenue_original", "cost", "cost_missing_rates",
                              "cost_original", "profit"]
    header += [k for k, _, kind in COLUMNS if kind in ("ratio", "unit")] + ["currency"]
    writer.writerow(header)

    def values(row: dict, keys: list[str]) -> list:
        line = list(keys)
        line += [row[k] for k in COUNTS]
        line += [*_flat(row["revenue"]), *_flat(row["cost"]), row["profit"] if row["profit"] is not None else ""]
        line += ["" if row[k] is None else row[k] for k, _, kind in COLUMNS if kind in ("ratio", "unit")]
        return line + [answer["currency"]]

    for row in answer["rows"]:
        keys = []
        for d in dims:
            keys += [row["key"].get(d) or "", row["label"].get(d) or ""]
        writer.writerow(values(row, keys))
    writer.writerow(values(answer["totals"], ["(total)", ""] + ["", ""] * (len(dims) - 1)))
    return out.getvalue()


def build_cohorts(space: dict, basis: str, first: date, last: date, link: str | None, today: date) -> dict:
    """Deposits and revenue per cohort day, cumulative at day 0, 1, 7, 30 and to date.

    A day-N figure of a cohort whose day N has not come yet (cohort day + N after today) is None.
    """
    with db.connection() as conn:
        query.fold(conn, space["id"])
        reporting.fold(conn, space["id"])  # cohort sizes are the deck's clicks and registrations
        currencies = query.cohort_currencies(conn, space["id"], basis, first, last)
        rates = rate_table(conn, space["id"], space["currency"], currencies, first, max(today, last),
                           current_app.config["RATE_MAX_AGE_DAYS"])
        rows = query.read_cohorts(conn, space["id"], basis, first, last, link, rates, COHORT_BUCKETS)
        sizes = query.cohort_sizes(conn, space["id"], basis, first, last, link)
    per_day: dict[date, dict[int, tuple[int, Money]]] = {}
    for r in rows:
        cell = per_day.setdefault(r["cohort_day"], {})
        deposits, money = cell.get(r["bucket"], (0, Money()))
        money.add(r["currency"], r["amount"] or Decimal(0), r["amount_main"], bool(r["missing"]))
        cell[r["bucket"]] = (deposits + int(r["deposits"]), money)
    marks = [str(b) for b in COHORT_BUCKETS] + ["all"]
    cohorts = []
    # A total stays None until some cohort has reached its day.
    totals: dict = {"size": 0, "deposits": {m: None for m in marks}, "revenue": {m: None for m in marks}}
    for day in query.day_span(first, last):
        cell = per_day.get(day, {})
        size = sizes.get(day, 0)
        if not cell and not size:
            continue
        deposits, revenue = {}, {}
        running_n, running = 0, Money()
        for bucket, mark in zip(list(COHORT_BUCKETS) + [-1], marks):
            n, money = cell.get(bucket, (0, Money()))
            running_n += n
            running.merge(money)
            reached = mark == "all" or day + timedelta(days=int(mark)) <= today
            snapshot = Money(dict(running.original), running.main, set(running.missing))
            deposits[mark] = running_n if reached else None
            revenue[mark] = snapshot if reached else None
            if reached:
                totals["deposits"][mark] = (totals["deposits"][mark] or 0) + running_n
                if totals["revenue"][mark] is None:
                    totals["revenue"][mark] = Money()
                totals["revenue"][mark].merge(snapshot)
        totals["size"] += size
        cohorts.append({"day": day, "size": size, "deposits": deposits, "revenue": revenue})
    return {"basis": basis, "first": first, "last": last, "link": link, "cohorts": cohorts, "totals": totals,
            "marks": marks, "main": space["currency"], "time_zone": space["time_zone"]}


def cohorts_json(space: dict, report: dict) -> dict:
    """GET /reports/cohorts' answer."""
    main = report["main"]

    def cohort(c: dict) -> dict:
        return {"day": c["day"].isoformat() if "day" in c else None, "size": c["size"],
                "deposits": c["deposits"],
                "revenue": {m: (None if v is None else money_json(v, main)) for m, v in c["revenue"].items()}}

    totals = cohort({**report["totals"]})
    totals.pop("day")
    return {"ok": True, "space": space["slug"], "time_zone": report["time_zone"], "currency": main,
            "basis": report["basis"], "from": report["first"].isoformat(), "to": report["last"].isoformat(),
            "link": report["link"], "days": [int(m) for m in report["marks"] if m != "all"],
            "cohorts": [cohort(c) for c in report["cohorts"]], "totals": totals}


def cohorts_csv(answer: dict) -> str:
    """The cohorts answer as CSV: one line per cohort day."""
    out = io.StringIO()
    writer = csv.writer(out)
    marks = [str(d) for d in answer["days"]] + ["all"]
    writer.writerow(["cohort_day", "size"] + [f"deposits_day_{m}" for m in marks]
                    + [f"revenue_day_{m}" for m in marks] + ["currency"])
    for c in answer["cohorts"] + [{**answer["totals"], "day": "(total)"}]:
        writer.writerow([c["day"], c["size"]] + ["" if c["deposits"][m] is None else c["deposits"][m] for m in marks]
                        + ["" if c["revenue"][m] is None else (c["revenue"][m]["amount"] or "missing") for m in marks]
                        + [answer["currency"]])
    return out.getvalue()
