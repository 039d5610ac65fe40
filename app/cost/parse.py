"""The one rule for a cost entry, shared by POST /costs, the Costs form and the CSV upload (docs/costs.md).

A cost is {"date": "YYYY-MM-DD", one scope key, "amount": "12.50", "currency": "USD"}; the scope
key is `link` (a link slug of the space), `campaign_id`, `adset_id` or `ad_id` (the Facebook ids
the clicks carry).
"""
import csv
import io
import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

from app.lib.currency import normalize_currency

# Scope keys as sent, and the scope each one names.
SCOPE_KEYS = {"link": "link", "campaign_id": "campaign", "adset_id": "adset", "ad_id": "ad"}
SCOPE_FIELDS = {scope: key for key, scope in SCOPE_KEYS.items()}
SCOPE_LABELS = {"link": "Link", "campaign": "Campaign", "adset": "Ad set", "ad": "Ad"}
FIELDS = frozenset({"date", "amount", "currency", *SCOPE_KEYS})
MAX_AMOUNT = Decimal("1e15")
MAX_ENTRIES = 1000
MAX_CSV_ROWS = 5000
FUTURE_DAYS = 1
_ID_RE = re.compile(r"[^\x00-\x1f\x7f]{1,200}")
# CSV headers people export with, mapped to the API's field names.
CSV_ALIASES = {"day": "date", "date": "date", "link": "link", "link_slug": "link", "slug": "link",
               "campaign_id": "campaign_id", "campaign id": "campaign_id", "adset_id": "adset_id",
               "ad set id": "adset_id", "ad_set_id": "adset_id", "ad_id": "ad_id", "ad id": "ad_id",
               "amount": "amount", "spend": "amount", "cost": "amount", "amount spent": "amount",
               "currency": "currency"}


class CostError(ValueError):
    """A cost entry that cannot be stored; the message names the field and why."""


@dataclass(frozen=True)
class CostEntry:
    """One valid cost: a local day, a scope ('link', 'campaign', 'adset', 'ad') and its id, an amount in a currency."""

    day: date
    scope: str
    scope_id: str
    amount: Decimal
    currency: str


def parse_cost(raw: dict, today: date) -> CostEntry:
    """A CostEntry from a JSON object or form/CSV row; CostError naming the first bad field.

    `today` is the space's local day: a cost is spend already made (at most FUTURE_DAYS ahead).
    """
    if not isinstance(raw, dict):
        raise CostError("each cost must be a JSON object")
    unknown = sorted(k for k in raw if k not in FIELDS)
    if unknown:
        raise CostError(f"unknown field {str(unknown[0])[:40]!r}; allowed: {', '.join(sorted(FIELDS))}")
    day_raw = raw.get("date")
    if not isinstance(day_raw, str) or not day_raw.strip():
        raise CostError("`date` is required as YYYY-MM-DD (a day in the space's time zone)")
    try:
        day = date.fromisoformat(day_raw.strip())
    except ValueError:
        raise CostError(f"`date` must be YYYY-MM-DD, not {day_raw[:20]!r}") from None
    if day > today + timedelta(days=FUTURE_DAYS):
        raise CostError(f"`date` {day.isoformat()} is in the future (today is {today.isoformat()} in the space's zone)")
    if day.year < 2000:
        raise CostError("`date` must be in 2000 or later")
    given = [(k, raw[k]) for k in SCOPE_KEYS if raw.get(k) not in (None, "")]
    if len(given) != 1:
        raise CostError("give exactly one scope: `link`, `campaign_id`, `adset_id` or `ad_id`"
                        + (f" (got {', '.join(k for k, _ in given)})" if given else ""))
    key, value = given[0]
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not _ID_RE.fullmatch(value.strip()):
        raise CostError(f"`{key}` must be a text of 1 to 200 printable characters")
    amount = parse_amount(raw.get("amount"))
    currency_raw = raw.get("currency")
    currency = normalize_currency(currency_raw) if isinstance(currency_raw, str) else None
    if currency is None:
        raise CostError("`currency` must be an ISO 4217 code such as USD or EUR")
    return CostEntry(day, SCOPE_KEYS[key], value.strip(), amount, currency)


def parse_amount(raw) -> Decimal:
    """A non-negative amount with at most 6 decimals from "12.50" or 12.5; CostError otherwise."""
    if isinstance(raw, bool) or raw is None or raw == "":
        raise CostError("`amount` is required, e.g. \"12.50\"")
    if isinstance(raw, float):
        raw = repr(raw)
    if isinstance(raw, str) and not raw.isascii():  # Decimal() reads "١٢" and "１２" as 12
        raise CostError(f"`amount` must be written with ASCII digits, not {raw[:20]!r}")
    try:
        amount = Decimal(str(raw).strip().replace(",", "") if isinstance(raw, str) else raw)
    except (InvalidOperation, TypeError, ValueError):
        raise CostError(f"`amount` must be a number such as \"12.50\", not {str(raw)[:20]!r}") from None
    if not amount.is_finite():  # 1e400 as a JSON number reads as infinity
        raise CostError("`amount` is too large or not a number")
    if amount < 0:
        raise CostError("`amount` must be zero or more")
    if amount >= MAX_AMOUNT:
        raise CostError("`amount` is too large")
    if -amount.as_tuple().exponent > 6:
        raise CostError("`amount` has more than 6 decimals")
    return amount


def format_amount(amount: Decimal) -> str:
    """An amount as text with at least two decimals: 12.5 → '12.50', 0.123 → '0.123'."""
    text = f"{amount.normalize():f}"
    whole, _, frac = text.partition(".")
    return f"{whole}.{frac.ljust(2, '0')}"


def entry_json(entry: CostEntry, **extra) -> dict:
    """The API's shape of a stored cost: date, its scope key, amount and currency (and `extra`)."""
    return {"date": entry.day.isoformat(), SCOPE_FIELDS[entry.scope]: entry.scope_id,
            "amount": format_amount(entry.amount), "currency": entry.currency, **extra}


@dataclass
class CsvRow:
    """One data row of an uploaded CSV: its line number, fields, and the entry or the error."""

    line: int
    fields: dict
    entry: CostEntry | None
    error: str | None


def parse_cost_csv(text: str, today: date) -> tuple[list[CsvRow], str | None]:
    """Each row of a cost CSV parsed on its own (a bad row never stops the others); and a file-level error.

    The header names the columns: date, amount, currency and one scope column per row (link,
    campaign_id, adset_id or ad_id); common export names (Day, Spend, Campaign ID…) are accepted.
    """
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        sample = text[:4096]
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t") if sample.strip() else csv.excel
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    try:
        header = next(reader)
    except (StopIteration, csv.Error):
        return [], "the file is empty: the first line must name the columns (date, link or campaign_id…, amount, currency)"
    names = []
    for column in header:
        clean = re.sub(r"\s*\(.*\)$", "", column.strip().lower())
        names.append(CSV_ALIASES.get(clean, clean))
    missing = [c for c in ("date", "amount", "currency") if c not in names]
    if missing or not any(k in names for k in SCOPE_KEYS):
        need = missing + ([] if any(k in names for k in SCOPE_KEYS) else ["a scope column (link, campaign_id, adset_id or ad_id)"])
        return [], f"the header lacks {', '.join(need)}; it has {', '.join(h[:30] for h in header) or 'nothing'}"
    rows: list[CsvRow] = []
    line = 1
    while True:
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            line += 1
            rows.append(CsvRow(line, {}, None, f"unreadable line: {exc}"))
            continue
        line = reader.line_num
        if not any(v.strip() for v in values):
            continue
        if len(rows) >= MAX_CSV_ROWS:
            return rows, f"only the first {MAX_CSV_ROWS} rows are read; split the file"
        fields = {name: value.strip() for name, value in zip(names, values) if name in FIELDS and value.strip()}
        try:
            rows.append(CsvRow(line, fields, parse_cost(fields, today), None))
        except CostError as exc:
            rows.append(CsvRow(line, fields, None, str(exc)))
    if not rows:
        return [], "the file has a header but no rows"
    return rows, None
