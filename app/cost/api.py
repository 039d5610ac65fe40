"""POST /costs and GET /costs with the space's Bearer (GET also with a read-only report key) (docs/costs.md)."""
import json
from datetime import datetime

from flask import Blueprint, current_app, jsonify, request

from app import db
from app.auth.credentials import AuthError, require_bearer, require_reader
from app.cost import service, store
from app.cost.parse import MAX_ENTRIES, entry_json, CostEntry
from app.reporting.filters import FilterError, parse_filters
from app.lib import clock
from app.space import store as space_store

bp = Blueprint("cost_api", __name__)


def _error(status: str, reason: str, http_status: int, **extra):
    response = jsonify(ok=False, status=status, error=reason, **extra)
    response.status_code = http_status
    if http_status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="xtracker"'
    return response


@bp.errorhandler(AuthError)
def reject_credential(exc: AuthError):
    """A missing, wrong or read-only credential is a 401 with the reason."""
    return _error("unauthorized", exc.reason, 401)


def space_today(space: dict, now: datetime):
    """Today in the space's time zone."""
    from zoneinfo import ZoneInfo
    return now.astimezone(ZoneInfo(space["time_zone"])).date()


def _space(space_id: int) -> dict:
    with db.connection() as conn:
        return space_store.get_space(conn, space_id)


@bp.post("/costs")
def create_costs():
    """Store one cost or a list of them; each (date, scope) replaces its earlier amount.

    Answers {"ok", "stored": [entry + "replaced"], "errors": [{"index", "error"}]}: 200 when every
    entry was stored, 400 when none was, 207 when some were.
    """
    space_id = require_bearer()
    request.max_content_length = current_app.config["COST_UPLOAD_MAX_BYTES"]
    raw = request.get_data(cache=False)
    try:
        body = json.loads(raw) if raw.strip() else None
    except (ValueError, RecursionError) as exc:
        return _error("invalid_json", f"request body is not valid JSON: {str(exc)[:120]}", 400)
    entries = body if isinstance(body, list) else [body] if isinstance(body, dict) else None
    if entries is None:
        return _error("invalid_json", "request body must be a cost object or a list of them", 400)
    if not entries:
        return _error("invalid_request", "the list of costs is empty", 400)
    if len(entries) > MAX_ENTRIES:
        return _error("invalid_request", f"at most {MAX_ENTRIES} costs per request", 400)
    space = _space(space_id)
    stored, errors = service.store_costs(space_id, entries, space_today(space, clock.now()), "api")
    status = 200 if not errors else 400 if not stored else 207
    response = jsonify(ok=not errors, status="stored" if not errors else "invalid_request" if not stored else "partial",
                       stored=stored, errors=errors)
    response.status_code = status
    return response


@bp.get("/costs")
def list_costs():
    """The stored costs of a range: ?from=YYYY-MM-DD&to=YYYY-MM-DD (days in the space's zone)."""
    space_id = require_reader()
    space = _space(space_id)
    args = dict(request.args)
    args.setdefault("range", "custom" if "from" in args or "to" in args else "30d")
    try:
        filters = parse_filters(args, space["time_zone"], clock.now())
    except FilterError as exc:
        return _error("invalid_request", str(exc), 400)
    with db.connection() as conn:
        rows = store.list_costs(conn, space_id, filters.first_day, filters.last_day)
    costs = [entry_json(CostEntry(r["day"], r["scope"], r["scope_id"], r["amount"], r["currency"]),
                        source=r["source"], updated_at=r["updated_at"].isoformat()) for r in rows]
    return jsonify(ok=True, space=space["slug"], time_zone=space["time_zone"], **{"from": filters.first_day.isoformat(),
                   "to": filters.last_day.isoformat()}, costs=costs)
