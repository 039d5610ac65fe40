"""Reports: the report rollups grouped by one or two dimensions, with revenue and cost in the main currency.

Each grouping is read from the narrowest rollup holding its dimensions and filters:
report_days (link, campaign, ad set, ad; its whole weeks from report_weeks, the same by local week),
report_geo_days (link, country), report_hours (link, hour of day); day and day of week over all
links come from report_hours' all-link rows. A pair or filter spanning two of them
(campaign → country, ad → hour, country → hour…) reads report_cross_days (every dimension but the
hour) or report_cross_hours (every dimension). Costs are spread over the clicks of their scope and
day; a cost whose scope a rollup cannot split (a campaign cost by country alone) or whose scope
had no clicks that day goes to a row of its own, so totals always hold every cost.
"""
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

import psycopg
from psycopg import sql

from app.rate.convert import RateTable
from app.reporting.store import ALL_LINKS

TABLES = {"days": "report_days", "geo": "report_geo_days", "hours": "report_hours",
          "cross_days": "report_cross_days", "cross_hours": "report_cross_hours"}
# Narrowest first: the first rollup holding a grouping's dimensions and filters serves it.
TABLE_ORDER = ("days", "geo", "hours", "cross_days", "cross_hours")
# Rollups that also hold link_slug ALL_LINKS rows (the sum over links), read when no link is grouped or filtered.
WITH_ALL_LINKS = {"geo", "hours"}
_ADS = {"link_slug", "campaign_id", "adset_id", "ad_id"}
TABLE_COLUMNS = {"days": _ADS, "geo": {"link_slug", "country"}, "hours": {"link_slug", "hour"},
                 "cross_days": _ADS | {"country"}, "cross_hours": _ADS | {"country", "hour"}}


@dataclass(frozen=True)
class Dimension:
    """A grouping: its name, label, SQL expression over a rollup row aliased {a}, and the rollups that hold it."""

    name: str
    label: str
    expr: str
    tables: frozenset


def _holding(column: str | None) -> frozenset:
    """The rollups with `column` (None: every rollup, for dimensions of the day)."""
    return frozenset(t for t in TABLE_ORDER if column is None or column in TABLE_COLUMNS[t])


DIMENSIONS = {
    "link": Dimension("link", "Link", "{a}.link_slug", _holding("link_slug")),
    "campaign": Dimension("campaign", "Campaign", "{a}.campaign_id", _holding("campaign_id")),
    "adset": Dimension("adset", "Ad set", "{a}.adset_id", _holding("adset_id")),
    "ad": Dimension("ad", "Ad", "{a}.ad_id", _holding("ad_id")),
    "country": Dimension("country", "Country", "{a}.country", _holding("country")),
    "day": Dimension("day", "Day", "{a}.day", _holding(None)),
    "hour": Dimension("hour", "Hour of day", "{a}.hour", _holding("hour")),
    "weekday": Dimension("weekday", "Day of week", "extract(isodow FROM {a}.day)", _holding(None)),
}
ALIASES = {"ad_set": "adset", "hour_of_day": "hour", "day_of_week": "weekday", "dow": "weekday", "date": "day",
           "campaign_id": "campaign", "adset_id": "adset", "ad_id": "ad"}
# Filters: URL parameter → rollup column.
FILTERS = {"link": "link_slug", "campaign": "campaign_id", "adset": "adset_id", "ad": "ad_id", "country": "country"}
SCOPE_COLUMNS = {"link": "link_slug", "campaign": "campaign_id", "adset": "adset_id", "ad": "ad_id"}
COUNTS = ("clicks", "contacts", "subscribed", "registrations", "deposits", "first_deposits")
# Group keys of the rows that hold costs no row of the grouping can take.
NO_CLICKS = "\x00no-clicks"
NOT_SPLIT = "\x00not-split"


class ReportError(ValueError):
    """A grouping, filter or range the reports cannot serve; the message says which and why."""


def parse_group_by(raw: str | None) -> list[Dimension]:
    """One or two dimensions from `group_by` ("campaign" or "campaign,ad"); ReportError otherwise."""
    names = [n.strip().lower() for n in (raw or "").replace(">", ",").split(",") if n.strip()]
    if not names:
        raise ReportError(f"`group_by` is required: one or two of {', '.join(DIMENSIONS)} (e.g. campaign,ad)")
    if len(names) > 2:
        raise ReportError("`group_by` takes at most two dimensions (e.g. campaign,ad)")
    dims = []
    for name in names:
        dim = DIMENSIONS.get(ALIASES.get(name, name))
        if dim is None:
            raise ReportError(f"`group_by` {name[:30]!r} is not one of {', '.join(DIMENSIONS)}")
        dims.append(dim)
    if len(dims) == 2 and dims[0].name == dims[1].name:
        raise ReportError("`group_by` names the same dimension twice")
    return dims


def choose_table(dims: list[Dimension], filters: dict[str, str]) -> str:
    """The narrowest rollup holding every dimension and filter (report_cross_hours holds them all)."""
    return next(t for t in TABLE_ORDER
                if all(t in d.tables for d in dims) and all(FILTERS[f] in TABLE_COLUMNS[t] for f in filters))


def choose_counts_table(dims: list[Dimension], filters: dict[str, str]) -> str:
    """The rollup the counts and revenue are read from: choose_table's, or, for days and days of the week over
    all links, the all-link rows of report_hours (a row per day, hour and currency: fewer than report_days has
    per day once a space has a few dozen ads). Costs are still spread over choose_table's rollup."""
    table = choose_table(dims, filters)
    if not filters and all(d.name in ("day", "weekday") for d in dims):
        return "hours"
    return table


@dataclass
class Money:
    """An amount per original currency and its sum in the main currency (None once a rate is missing)."""

    original: dict[str, Decimal] = field(default_factory=dict)
    main: Decimal = Decimal(0)
    missing: set[str] = field(default_factory=set)

    def add(self, currency: str, amount: Decimal, main_amount: Decimal | None, missing: bool) -> None:
        """Add `amount` of `currency`, worth `main_amount` in the main currency (missing: no rate)."""
        if not amount:
            return
        self.original[currency] = self.original.get(currency, Decimal(0)) + amount
        if missing or main_amount is None:
            self.missing.add(currency)
        else:
            self.main += main_amount

    def merge(self, other: "Money") -> None:
        """Add another Money to this one."""
        for currency, amount in other.original.items():
            self.original[currency] = self.original.get(currency, Decimal(0)) + amount
        self.main += other.main
        self.missing |= other.missing

    @property
    def converted(self) -> Decimal | None:
        """The main-currency sum, or None when any part's rate is missing (never counted as zero)."""
        return None if self.missing else self.main


@dataclass
class ReportRow:
    """One row of a report: its key per dimension, counts, revenue and cost."""

    key: tuple
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTS, 0))
    revenue: Money = field(default_factory=Money)
    cost: Money = field(default_factory=Money)

    def merge(self, other: "ReportRow") -> None:
        """Add another row's figures to this one."""
        for k in COUNTS:
            self.counts[k] += other.counts[k]
        self.revenue.merge(other.revenue)
        self.cost.merge(other.cost)


def _filter_sql(filters: dict[str, str], alias: str) -> sql.Composable:
    parts = [sql.SQL(" AND {}.{} = {}").format(sql.Identifier(alias), sql.Identifier(FILTERS[f]),
                                               sql.Placeholder(f"f_{f}")) for f in sorted(filters)]
    return sql.Composed(parts)


def _links_sql(table: str, alias: str, summed: bool) -> sql.Composable:
    """The link rows to read from a rollup holding ALL_LINKS rows: those (summed) or every other one."""
    if table not in WITH_ALL_LINKS:
        return sql.SQL("")
    return sql.SQL(" AND {}.link_slug {} {}").format(sql.Identifier(alias), sql.SQL("=" if summed else "<>"),
                                                       sql.Literal(ALL_LINKS))


def _key_sql(dims: list[Dimension], alias: str) -> list[sql.Composable]:
    keys = [sql.SQL("({})::text").format(sql.SQL(d.expr.format(a=alias))) for d in dims]
    while len(keys) < 2:
        keys.append(sql.SQL("NULL::text"))
    return keys


def whole_weeks(first: date, last: date) -> tuple[date, date] | None:
    """The whole local weeks (Monday to Sunday) within [first, last]: (first Monday, the Monday after the last
    Sunday), or None when the range holds none."""
    start = first + timedelta(days=-first.weekday() % 7)
    end = last + timedelta(days=1) - timedelta(days=(last + timedelta(days=1)).weekday())
    return (start, end) if start < end else None


_FX = ("fx AS (SELECT * FROM unnest(%(fx_days)s::date[], %(fx_currencies)s::text[], %(fx_rates)s::numeric[])"
       " AS t(day, currency, rate))")


def read_report(conn: psycopg.Connection, space_id: int, dims: list[Dimension], filters: dict[str, str],
                first: date, last: date, rates: RateTable) -> list[ReportRow]:
    """The report's rows (unsorted), one per key; cost rows that no key can take have a NO_CLICKS/NOT_SPLIT key."""
    table = choose_table(dims, filters)
    counts_table = choose_counts_table(dims, filters)
    k1, k2 = _key_sql(dims, "r")
    params = {"space_id": space_id, "first": first, "last": last, "main": rates.main, **rates.arrays(),
              **{f"f_{k}": v for k, v in filters.items()}}
    links = _links_sql(counts_table, "r", not any(d.name == "link" for d in dims) and "link" not in filters)
    weeks = whole_weeks(first, last) if counts_table == "days" and not any(
        d.name in ("day", "weekday") for d in dims) else None
    figures = sql.SQL("r.clicks, r.contacts, r.subscribed, r.registrations, r.deposits, r.first_deposits, r.revenue")
    if weeks is None:
        source = sql.SQL(
            "SELECT {k1} AS k1, {k2} AS k2, r.currency, r.day, {figures} FROM {table} r"
            " WHERE r.space_id = %(space_id)s AND r.day BETWEEN %(first)s AND %(last)s{links}{filters}").format(
            k1=k1, k2=k2, figures=figures, table=sql.Identifier(TABLES[counts_table]), links=links,
            filters=_filter_sql(filters, "r"))
    else:
        # Whole weeks from report_weeks (counts and main-currency revenue: neither needs its day), the
        # ragged ends and other currencies' revenue (converted at the rate of its day) from report_days.
        params["week_first"], params["week_end"] = weeks
        source = sql.SQL(
            "SELECT {k1} AS k1, {k2} AS k2, r.currency, NULL::date AS day, {figures} FROM report_weeks r"
            " WHERE r.space_id = %(space_id)s AND r.week >= %(week_first)s AND r.week < %(week_end)s"
            "   AND r.currency IN ('', %(main)s){filters}"
            " UNION ALL SELECT {k1} AS k1, {k2} AS k2, r.currency, r.day, {figures} FROM report_days r"
            " WHERE r.space_id = %(space_id)s AND (r.day BETWEEN %(first)s AND %(last)s)"
            "   AND (r.day < %(week_first)s OR r.day >= %(week_end)s){filters}"
            " UNION ALL SELECT {k1} AS k1, {k2} AS k2, r.currency, r.day, {figures} FROM report_days r"
            " WHERE r.space_id = %(space_id)s AND r.day >= %(week_first)s AND r.day < %(week_end)s"
            "   AND ((r.currency > '' AND r.currency < %(main)s) OR r.currency > %(main)s){filters}").format(
            k1=k1, k2=k2, figures=figures, filters=_filter_sql(filters, "r"))
    query = sql.SQL(
        "WITH " + _FX + " SELECT r.k1, r.k2, r.currency,"
        " sum(r.clicks) AS clicks, sum(r.contacts) AS contacts, sum(r.subscribed) AS subscribed,"
        " sum(r.registrations) AS registrations, sum(r.deposits) AS deposits, sum(r.first_deposits) AS first_deposits,"
        " sum(r.revenue) AS amount,"
        " sum(r.revenue * CASE WHEN r.currency = %(main)s THEN 1 ELSE fx.rate END) AS amount_main,"
        " bool_or(r.currency NOT IN ('', %(main)s) AND fx.rate IS NULL AND r.revenue <> 0) AS missing"
        " FROM ({source}) r LEFT JOIN fx ON fx.day = r.day AND fx.currency = r.currency"
        " GROUP BY 1, 2, 3").format(source=source)
    rows: dict[tuple, ReportRow] = {}
    for r in conn.execute(query, params).fetchall():
        key = (r["k1"], r["k2"])
        row = rows.setdefault(key, ReportRow(key))
        for k in COUNTS:
            row.counts[k] += int(r[k] or 0)
        if r["currency"]:
            row.revenue.add(r["currency"], r["amount"] or Decimal(0), r["amount_main"], bool(r["missing"]))
    _add_costs(conn, table, dims, filters, params, rows)
    return list(rows.values())


def _add_costs(conn: psycopg.Connection, table: str, dims: list[Dimension], filters: dict[str, str], params: dict,
               rows: dict[tuple, ReportRow]) -> None:
    """Spread each cost over the clicks of its scope and day, into the rows of this grouping.

    The share of a row is its clicks in the cost's scope that day over all the scope's clicks that
    day (filters narrow the rows, never the denominator).
    """
    present = {r["scope"] for r in conn.execute(
        "SELECT DISTINCT scope FROM costs WHERE space_id = %(space_id)s AND day BETWEEN %(first)s AND %(last)s",
        params).fetchall()}
    if not present:
        return
    columns = TABLE_COLUMNS[table]
    splittable = [s for s, c in SCOPE_COLUMNS.items() if c in columns]
    # Only the scopes that have costs in the range are joined: a report by country over ad costs
    # reads no rollup rows at all for its costs.
    spread = [s for s in splittable if s in present]
    cost_cte = ("WITH " + _FX + ", c AS MATERIALIZED ("
                "  SELECT c.day, c.scope, c.scope_id, c.currency, c.amount,"
                "         c.amount * CASE WHEN c.currency = %(main)s THEN 1 ELSE fx.rate END AS amount_main"
                "  FROM costs c LEFT JOIN fx ON fx.day = c.day AND fx.currency = c.currency"
                "  WHERE c.space_id = %(space_id)s AND c.day BETWEEN %(first)s AND %(last)s AND c.amount <> 0)")
    unspread = (" SELECT NULL AS k1, NULL AS k2, c.scope, c.scope_id, c.currency, true AS unspread, sum(c.amount) AS amount,"
                "   sum(c.amount_main) AS amount_main, bool_or(c.amount_main IS NULL) AS missing"
                " FROM c WHERE {taken} GROUP BY 3, 4, 5")
    if not spread:
        query = sql.SQL(cost_cte + unspread.format(taken="true"))
    else:
        k1, k2 = _key_sql(dims, "w")
        filter_columns = sorted({FILTERS[f] for f in filters})
        carried = sql.SQL("").join(sql.SQL(", w.{}").format(sql.Identifier(c)) for c in filter_columns)
        # Each rollup row carries its scope's clicks that day (a window over the rows, not a join back to
        # their sums: the planner cannot count the rows and would pick a nested loop quadratic in them).
        totals = sql.SQL("").join(
            sql.SQL(", sum(w.clicks) OVER (PARTITION BY w.day, w.{column}) AS {total}").format(
                column=sql.Identifier(SCOPE_COLUMNS[s]), total=sql.Identifier(f"clicks_{s}")) for s in spread)
        # One left join per scope on (day, id): a cost meets the rows of its scope that day and is spread
        # over them by their clicks, or meets none (no clicks that day) and stays whole in a row of its own.
        matched = sql.SQL(" UNION ALL ").join(
            sql.SQL("SELECT c.scope, c.scope_id, c.currency, w.day IS NULL AS unspread, w.k1, w.k2,"
                    " coalesce(c.amount * w.clicks / w.{total}, c.amount) AS amount,"
                    " coalesce(c.amount_main * w.clicks / w.{total}, c.amount_main) AS amount_main,"
                    " c.amount_main IS NULL AS missing{carried}"
                    " FROM c LEFT JOIN w ON w.day = c.day AND w.{column} = c.scope_id WHERE c.scope = {scope}").format(
                carried=carried, total=sql.Identifier(f"clicks_{s}"), column=sql.Identifier(SCOPE_COLUMNS[s]),
                scope=sql.Literal(s))
            for s in spread)
        nulls = sql.SQL("").join(sql.SQL(", NULL") for _ in filter_columns)
        query = sql.SQL(
            cost_cte + ", w AS MATERIALIZED ("
            "  SELECT w.day, {k1} AS k1, {k2} AS k2, w.clicks, {columns}{totals} FROM {table} w"
            "  WHERE w.space_id = %(space_id)s AND w.day BETWEEN %(first)s AND %(last)s AND w.currency = ''"
            "    AND w.clicks > 0{links}"
            "), m AS ({matched}"
            "  UNION ALL SELECT c.scope, c.scope_id, c.currency, true, NULL, NULL, c.amount, c.amount_main,"
            "    c.amount_main IS NULL{nulls} FROM c WHERE c.scope <> ALL({spread})"
            ") SELECT m.k1, m.k2, CASE WHEN m.unspread THEN m.scope END AS scope,"
            "   CASE WHEN m.unspread THEN m.scope_id END AS scope_id, m.currency, m.unspread,"
            "   sum(m.amount) AS amount, sum(m.amount_main) AS amount_main, bool_or(m.missing) AS missing"
            " FROM m WHERE m.unspread OR (true{filters})"
            " GROUP BY 1, 2, 3, 4, 5, 6"
        ).format(table=sql.Identifier(TABLES[table]), k1=k1, k2=k2, totals=totals, nulls=nulls,
                 columns=sql.SQL(", ").join(sql.SQL("w.{}").format(sql.Identifier(c))
                                            for c in sorted({SCOPE_COLUMNS[s] for s in spread} | set(filter_columns))),
                 matched=matched, filters=_filter_sql(filters, "m"), links=_links_sql(table, "w", False),
                 spread=sql.Literal(spread))
    for r in conn.execute(query, params).fetchall():
        if r["unspread"]:
            if filters and not (set(filters) == {r["scope"]} and filters[r["scope"]] == r["scope_id"]):
                continue
            key = (NO_CLICKS if r["scope"] in splittable else NOT_SPLIT, None)
        else:
            key = (r["k1"], r["k2"])
        row = rows.setdefault(key, ReportRow(key))
        row.cost.add(r["currency"], r["amount"], r["amount_main"], bool(r["missing"]))


def currencies_in_range(conn: psycopg.Connection, space_id: int, first: date, last: date) -> set[str]:
    """Currencies of revenue (the deck's all-links day rollup: one row per day and currency) and costs."""
    rows = conn.execute(
        "SELECT DISTINCT currency FROM rollup_days WHERE space_id = %(space_id)s AND link_slug = '*'"
        "   AND day BETWEEN %(first)s AND %(last)s AND kind = 'revenue'"
        " UNION SELECT DISTINCT currency FROM costs WHERE space_id = %(space_id)s AND day BETWEEN %(first)s AND %(last)s",
        {"space_id": space_id, "first": first, "last": last}).fetchall()
    return {r["currency"] for r in rows}


def fold(conn: psycopg.Connection, space_id: int) -> int:
    """Fold the space's waiting report and cohort deltas; return how many."""
    return conn.execute("SELECT fold_reports(%(space_id)s) AS n", {"space_id": space_id}).fetchone()["n"]


def list_labels(conn: psycopg.Connection, space_id: int, dimension: str, keys: list[str]) -> dict[str, str]:
    """Names of campaign / ad set / ad ids (the latest seen on a click)."""
    if dimension == "link":
        rows = conn.execute("SELECT slug AS key, name FROM links WHERE space_id = %(space_id)s AND slug = ANY(%(keys)s)",
                            {"space_id": space_id, "keys": keys}).fetchall()
    else:
        rows = conn.execute(
            "SELECT key, name FROM report_labels WHERE space_id = %(space_id)s AND dimension = %(dimension)s"
            " AND key = ANY(%(keys)s)", {"space_id": space_id, "dimension": dimension, "keys": keys}).fetchall()
    return {r["key"]: r["name"] for r in rows}


def read_cohorts(conn: psycopg.Connection, space_id: int, basis: str, first: date, last: date, link: str | None,
                 rates: RateTable, buckets: tuple[int, ...]) -> list[dict]:
    """Deposits and revenue per cohort day and age bucket (rows: cohort_day, bucket, currency, deposits, amount,
    amount_main, missing); a bucket b holds ages after the previous bucket up to b, the last holds the rest."""
    case = sql.SQL("CASE {} ELSE -1 END").format(sql.SQL(" ").join(
        sql.SQL("WHEN age <= {} THEN {}").format(sql.Literal(b), sql.Literal(b)) for b in buckets))
    query = sql.SQL(
        "WITH " + _FX + " SELECT cohort_day, {case} AS bucket, d.currency, sum(deposits) AS deposits,"
        " sum(revenue) AS amount,"
        " sum(revenue * CASE WHEN d.currency = %(main)s THEN 1 ELSE fx.rate END) AS amount_main,"
        " bool_or(d.currency <> %(main)s AND fx.rate IS NULL AND revenue <> 0) AS missing"
        " FROM cohort_days d LEFT JOIN fx ON fx.day = d.cohort_day + d.age AND fx.currency = d.currency"
        " WHERE d.space_id = %(space_id)s AND d.basis = %(basis)s AND d.cohort_day BETWEEN %(first)s AND %(last)s"
        "   AND (%(link)s::text IS NULL OR d.link_slug = %(link)s)"
        " GROUP BY 1, 2, 3").format(case=case)
    return conn.execute(query, {"space_id": space_id, "basis": basis, "first": first, "last": last, "link": link,
                                "main": rates.main, **rates.arrays()}).fetchall()


def cohort_sizes(conn: psycopg.Connection, space_id: int, basis: str, first: date, last: date,
                 link: str | None) -> dict[date, int]:
    """Clicks (basis click) or registrations (basis registration) per day, from the deck's day rollup."""
    rows = conn.execute(
        "SELECT day, sum(n) AS n FROM rollup_days WHERE space_id = %(space_id)s AND link_slug = %(link)s"
        " AND day BETWEEN %(first)s AND %(last)s AND kind = %(kind)s GROUP BY day",
        {"space_id": space_id, "first": first, "last": last, "link": link or "*",
         "kind": "click" if basis == "click" else "stage:registration"}).fetchall()
    return {r["day"]: int(r["n"]) for r in rows}


def cohort_currencies(conn: psycopg.Connection, space_id: int, basis: str, first: date, last: date) -> set[str]:
    """Currencies of the cohorts' deposits."""
    rows = conn.execute("SELECT DISTINCT currency FROM cohort_days WHERE space_id = %(space_id)s AND basis = %(basis)s"
                        " AND cohort_day BETWEEN %(first)s AND %(last)s",
                        {"space_id": space_id, "basis": basis, "first": first, "last": last}).fetchall()
    return {r["currency"] for r in rows}


def day_span(first: date, last: date) -> list[date]:
    """Every day from first to last."""
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]
