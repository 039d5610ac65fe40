"""The received log as shown: filters, rows ready for the templates, one render path for page and push."""
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from app import db
from app.lib import tokens
from app.conversion import events as parse
from app.received import store, warnings

ENDPOINTS = ("POST /events", "GET /e", "POST /bind", "GET /bind", "POST /clicks")
STATUSES = ("queued", "duplicate", "bound", "created", "conflict", "invalid_json", "invalid_request",
            "invalid_event", "invalid_uid", "invalid_tg_id", "invalid_value", "invalid_currency", "invalid_eid",
            "invalid_time", "payload_too_large", "unavailable", "error")
PAGE_SIZE = 100


class FilterError(ValueError):
    """A filter value the page does not offer; `field` names it."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Filters:
    """The received page's filters, as kept in its URL."""
    endpoint: str = ""
    status: str = ""
    warned: bool = False
    before: int | None = None
    listen: bool = False

    def query(self, **changes) -> str:
        """The URL query of these filters with `changes` applied (empty values left out)."""
        values = {"endpoint": self.endpoint, "status": self.status, "warned": "1" if self.warned else "",
                  "before": "" if self.before is None else str(self.before), "listen": "1" if self.listen else ""}
        values.update({k: ("" if v is None else v) for k, v in changes.items()})
        return urlencode({k: v for k, v in values.items() if v not in ("", False)})

    def matches(self, row: dict) -> bool:
        """Whether a newly stored row belongs on a page with these filters (listen mode)."""
        return ((not self.endpoint or row.get("endpoint") == self.endpoint)
                and (not self.status or row.get("status") == self.status)
                and (not self.warned or bool(row.get("warnings"))))


def parse_filters(args) -> Filters:
    """Filters from the query string; FilterError for a value the page does not offer."""
    endpoint = args.get("endpoint", "").strip()
    if endpoint and endpoint not in ENDPOINTS:
        raise FilterError("endpoint", f"choose one of {', '.join(ENDPOINTS)}")
    status = args.get("status", "").strip()
    if status and status not in STATUSES:
        raise FilterError("status", "choose a status from the list")
    before_raw = args.get("before", "").strip()
    if before_raw and (not (before_raw.isascii() and before_raw.isdigit()) or len(before_raw) > 18):
        raise FilterError("before", "must be a request number")
    return Filters(endpoint=endpoint, status=status, warned=args.get("warned", "") in ("1", "on"),
                   before=int(before_raw) if before_raw else None, listen=args.get("listen", "") == "1")


def _as_datetime(value) -> datetime:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def _is_test(params: dict) -> bool:
    try:
        return parse.check_test(params.get("test"))
    except parse.Rejection:
        return False


def shown_row(row: dict, space: dict) -> dict:
    """A stored row (from the database or a published message) ready for _row.html."""
    received_at = _as_datetime(row["received_at"])
    params = row.get("params") or {}
    uid = row.get("uid")
    # Only journeys that exist are linked: a refused request's uid may name none.
    journey = (f"/spaces/{space['slug']}/received/journeys/{uid}"
               if row.get("has_journey") and isinstance(uid, str) and tokens.UID_RE.fullmatch(uid) else None)
    return {
        "id": row["id"], "at": received_at.astimezone(ZoneInfo(space["time_zone"])), "endpoint": row["endpoint"],
        "params": list(params.items()), "excerpt": row.get("body_excerpt"), "status": row["status"],
        "http_status": row["http_status"], "inbox_id": row.get("inbox_id"), "uid": uid, "journey": journey,
        "test": _is_test(params), "error": row.get("error"),
        "warnings": [{"code": code, "label": warnings.LABELS.get(code, code),
                      "text": warnings.describe(code, row["endpoint"], params, received_at, row["status"],
                                                row.get("similar_uid"))}
                     for code in row.get("warnings") or ()],
    }


def rows_context(space: dict, filters: Filters) -> dict:
    """The page of rows the filters select, newest first, and the cursor of the next older page."""
    with db.connection() as conn:
        rows = store.list_requests(conn, space["id"], endpoint=filters.endpoint or None,
                                   status=filters.status or None, warned=filters.warned, before=filters.before,
                                   limit=PAGE_SIZE + 1)
    older = rows[PAGE_SIZE - 1]["id"] if len(rows) > PAGE_SIZE else None
    return {"rows": [shown_row(r, space) for r in rows[:PAGE_SIZE]], "older": older}
