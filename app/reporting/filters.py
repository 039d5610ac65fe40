"""The deck's filters, parsed from the URL: a date range in the space's time zone and a link."""
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

PRESETS = {"today": "Today", "yesterday": "Yesterday", "7d": "Last 7 days", "30d": "Last 30 days",
           "month": "This month", "custom": "Custom"}
DEFAULT_PRESET = "7d"
MAX_CUSTOM_DAYS = 366
_SLUG_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")


class FilterError(ValueError):
    """A filter value the deck cannot use; the message says which and why."""


@dataclass(frozen=True)
class Filters:
    """A whole-day range [first_day, last_day] in the space's zone, its UTC bounds, and the link filter."""

    preset: str
    first_day: date
    last_day: date
    start: datetime
    end: datetime
    time_zone: str
    link: str | None

    @property
    def days(self) -> int:
        """Number of days in the range."""
        return (self.last_day - self.first_day).days + 1

    @property
    def grain(self) -> str:
        """The waveform's bucket: quarter hours for one day, hours for two, days beyond."""
        return "quarter" if self.days == 1 else "hour" if self.days == 2 else "day"

    def params(self, **changes) -> dict:
        """The query parameters that reproduce these filters (with `changes` applied)."""
        values = {"range": self.preset}
        if self.preset == "custom":
            values.update({"from": self.first_day.isoformat(), "to": self.last_day.isoformat()})
        if self.link:
            values["link"] = self.link
        values.update(changes)
        return {k: v for k, v in values.items() if v not in (None, "")}

    def query(self, **changes) -> str:
        """The URL query string of params()."""
        return urlencode(self.params(**changes))

    @property
    def label(self) -> str:
        """A human label for the range."""
        if self.preset != "custom":
            return PRESETS[self.preset]
        return f"{self.first_day.isoformat()} – {self.last_day.isoformat()}"


# The days a report range may name: wide enough for any tracked history, narrow enough that the
# range's end (the day after `to`, in any zone) is a datetime Python and PostgreSQL both hold.
EARLIEST_DAY = date(2000, 1, 1)
LATEST_DAY = date(2999, 12, 31)


def _parse_day(raw: str | None, name: str) -> date:
    if not raw:
        raise FilterError(f"a custom range needs `{name}` as YYYY-MM-DD")
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise FilterError(f"`{name}` must be a date as YYYY-MM-DD, not {raw[:20]!r}") from None
    if not EARLIEST_DAY <= day <= LATEST_DAY:
        raise FilterError(f"`{name}` must be a day from {EARLIEST_DAY.isoformat()} to {LATEST_DAY.isoformat()}")
    return day


@dataclass(frozen=True)
class Checked:
    """The deck's filters as the page uses them: what it shows, what it dropped and why."""

    filters: Filters
    # Sentences about values that were dropped (an unknown link or range).
    notices: tuple[str, ...] = ()
    # Errors by filter field ('range', 'from', 'to'), shown at the filter; the deck shows the default range.
    errors: dict | None = None
    # The custom dates as submitted, so a bad range is shown as typed.
    submitted: dict | None = None


def check_filters(args, time_zone: str, now: datetime, link_slugs: set[str]) -> Checked:
    """Filters for the deck page: never an error page.

    An unknown `range` or a `link` that is not a link of the space is dropped with a notice; a bad
    custom range falls back to the default range with the error kept for the filter. Relative
    ranges ignore `from`/`to`, so a shared URL stays relative.
    """
    values = {k: args.get(k) for k in ("range", "from", "to", "link") if args.get(k)}
    notices, errors, submitted = [], {}, None
    if values.get("range") and values["range"] not in PRESETS:
        notices.append(f"Unknown range {values['range'][:40]!r} dropped: showing {PRESETS[DEFAULT_PRESET]}.")
        values.pop("range")
    link = values.get("link")
    if link is not None and link not in link_slugs:
        notices.append(f"{link[:64]!r} is not a link of this space: showing all links.")
        values.pop("link")
    if values.get("range") != "custom":
        values.pop("from", None)
        values.pop("to", None)
    try:
        filters = parse_filters(values, time_zone, now)
    except FilterError as exc:
        field = "from" if "`from`" in str(exc) else "to" if "`to`" in str(exc) else "range"
        errors[field] = str(exc)
        submitted = {"from": values.get("from", ""), "to": values.get("to", "")}
        filters = parse_filters({"link": values.get("link")} if values.get("link") else {}, time_zone, now)
    return Checked(filters, tuple(notices), errors or None, submitted)


def parse_filters(args, time_zone: str, now: datetime) -> Filters:
    """Filters from request args (range, from, to, link); FilterError on a bad value."""
    zone = ZoneInfo(time_zone)
    today = now.astimezone(zone).date()
    preset = args.get("range") or DEFAULT_PRESET
    if preset not in PRESETS:
        raise FilterError(f"`range` must be one of {', '.join(PRESETS)}")
    if preset == "today":
        first = last = today
    elif preset == "yesterday":
        first = last = today - timedelta(days=1)
    elif preset == "7d":
        first, last = today - timedelta(days=6), today
    elif preset == "30d":
        first, last = today - timedelta(days=29), today
    elif preset == "month":
        first, last = today.replace(day=1), today
    else:
        first, last = _parse_day(args.get("from"), "from"), _parse_day(args.get("to"), "to")
        if last < first:
            raise FilterError("`to` must not be before `from`")
        if (last - first).days + 1 > MAX_CUSTOM_DAYS:
            raise FilterError(f"a custom range covers at most {MAX_CUSTOM_DAYS} days")
    link = args.get("link") or None
    if link is not None and not _SLUG_RE.fullmatch(link):
        raise FilterError("`link` must be a link slug (letters, digits, - and _)")
    start = datetime.combine(first, time.min, zone)
    end = datetime.combine(last + timedelta(days=1), time.min, zone)
    return Filters(preset, first, last, start, end, time_zone, link)
