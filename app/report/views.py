"""Reports and cohorts: GET /reports and /reports/cohorts (Bearer or report key), and the Reports screen (docs/reports.md)."""
import re
from dataclasses import dataclass

from flask import Blueprint, Response, abort, jsonify, render_template, request
from zoneinfo import ZoneInfo

from app import db
from app.auth.credentials import AuthError, require_reader
from app.reporting.filters import PRESETS, FilterError, Filters, parse_filters
from app.lib import clock
from app.reporting import store as reporting
from app.report import build, query
from app.report.query import DIMENSIONS, FILTERS, ReportError
from app.web.screen import open_space, render_screen
from app.space import store as space_store
from app.web import session

api_bp = Blueprint("report_api", __name__)
bp = Blueprint("reports", __name__, url_prefix="/spaces/<space>/reports")
session.register_error_pages(bp)

FORMATS = ("json", "csv")
_COUNTRY_RE = re.compile(r"[A-Za-z]{2}")
_FILTER_RE = re.compile(r"[^\x00-\x1f\x7f]{1,200}")


@dataclass(frozen=True)
class ReportArgs:
    """A report request: grouping, filters, whole-day range, sort and output format."""

    dims: list
    filters: dict
    range: Filters
    sort: str | None
    direction: str | None
    format: str


def parse_report_args(args, space: dict, default_group: str | None = None) -> ReportArgs:
    """Parse group_by, from/to (or range), filters, sort, dir and format; ReportError or FilterError on a bad value."""
    values = dict(args.items())
    if "range" not in values and ("from" in values or "to" in values):
        values["range"] = "custom"
    window = parse_filters({k: v for k, v in values.items() if k in ("range", "from", "to")}, space["time_zone"],
                           clock.now())
    dims = query.parse_group_by(values.get("group_by") or default_group)
    filters = {}
    for name in FILTERS:
        raw = (values.get(name) or "").strip()
        if raw:
            if not _FILTER_RE.fullmatch(raw):
                raise ReportError(f"`{name}` must be 1 to 200 printable characters")
            if name == "country":
                if not _COUNTRY_RE.fullmatch(raw):
                    raise ReportError("`country` must be a two-letter country code such as DE")
                raw = raw.upper()
            filters[name] = raw
    fmt = values.get("format") or "json"
    if fmt not in FORMATS:
        raise ReportError("`format` must be json or csv")
    sort, direction = values.get("sort") or None, values.get("dir") or None
    if sort is not None and sort != "key" and sort not in build.COLUMN_KEYS:
        raise ReportError(f"`sort` must be key or a column: {', '.join(build.COLUMN_KEYS)}")
    if direction is not None and direction not in ("asc", "desc"):
        raise ReportError("`dir` must be asc or desc")
    return ReportArgs(dims, filters, window, sort, direction, fmt)


def _api_error(reason: str, http_status: int = 400, status: str = "invalid_request"):
    response = jsonify(ok=False, status=status, error=reason)
    response.status_code = http_status
    if http_status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="xtracker"'
    return response


@api_bp.errorhandler(AuthError)
def reject_credential(exc: AuthError):
    """A missing or wrong credential is a 401 with the reason."""
    return _api_error(exc.reason, 401, "unauthorized")


def _reader_space() -> dict:
    space_id = require_reader()
    with db.connection() as conn:
        return space_store.get_space(conn, space_id)


def csv_response(text: str, filename: str) -> Response:
    """A CSV download."""
    return Response(text, mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"})


def _report_answer(space: dict, parsed: ReportArgs):
    report = build.build_report(space, parsed.dims, parsed.filters, parsed.range.first_day, parsed.range.last_day,
                                parsed.sort, parsed.direction)
    answer = build.report_json(space, report)
    if parsed.format == "csv":
        name = f"{space['slug']}-report-{'-'.join(answer['group_by'])}-{answer['from']}-{answer['to']}.csv"
        return csv_response(build.report_csv(answer), name), report
    return answer, report


@api_bp.get("/reports")
def get_report():
    """A report as JSON (or CSV with format=csv): rows per group, totals, in the space's zone and main currency."""
    space = _reader_space()
    try:
        parsed = parse_report_args(request.args, space)
    except (ReportError, FilterError) as exc:
        return _api_error(str(exc))
    answer, _ = _report_answer(space, parsed)
    return answer if isinstance(answer, Response) else jsonify(answer)


def parse_cohort_args(args, space: dict):
    """(basis, Filters, link, format) from basis, from/to or range, link, format; FilterError/ReportError."""
    values = dict(args.items())
    if "range" not in values and ("from" in values or "to" in values):
        values["range"] = "custom"
    values.setdefault("range", "30d")
    window = parse_filters(values, space["time_zone"], clock.now())
    basis = values.get("basis") or "click"
    if basis not in build.COHORT_BASES:
        raise ReportError("`basis` must be click or registration")
    fmt = values.get("format") or "json"
    if fmt not in FORMATS:
        raise ReportError("`format` must be json or csv")
    return basis, window, window.link, fmt


def _today(space: dict):
    return clock.now().astimezone(ZoneInfo(space["time_zone"])).date()


@api_bp.get("/reports/cohorts")
def get_cohorts():
    """Deposits and revenue by day of click (or registration), cumulative at day 0, 1, 7, 30 and to date."""
    space = _reader_space()
    try:
        basis, window, link, fmt = parse_cohort_args(request.args, space)
    except (ReportError, FilterError) as exc:
        return _api_error(str(exc))
    report = build.build_cohorts(space, basis, window.first_day, window.last_day, link, _today(space))
    answer = build.cohorts_json(space, report)
    if fmt == "csv":
        return csv_response(build.cohorts_csv(answer), f"{space['slug']}-cohorts-{basis}-{answer['from']}-{answer['to']}.csv")
    return jsonify(answer)


def _screen_links(space: dict) -> list[dict]:
    with db.connection() as conn:
        return reporting.list_links(conn, space["id"])


@bp.get("/")
@session.login_required
def show_reports(space):
    """The Reports screen: grouping, range, filters, the sortable table with totals, CSV download."""
    current = open_space(space)
    args = request.args.to_dict()
    args.setdefault("group_by", "link")
    then_by = args.pop("then_by", "")
    if then_by and "," not in args["group_by"] and then_by != args["group_by"]:
        args["group_by"] = f"{args['group_by']},{then_by}"
    args.setdefault("range", "7d" if not ("from" in args or "to" in args) else "custom")
    error = None
    try:
        parsed = parse_report_args(args, current)
    except (ReportError, FilterError) as exc:
        error = str(exc)
        parsed = None
    if parsed is not None and parsed.format == "csv":
        answer, _ = _report_answer(current, parsed)
        return answer
    report = None
    if parsed is not None:
        report = build.build_report(current, parsed.dims, parsed.filters, parsed.range.first_day,
                                    parsed.range.last_day, parsed.sort, parsed.direction)
    return render_screen("report/page.html", current, "reports", status=400 if error else 200, error=error,
                         report=report, args=args, dimensions=DIMENSIONS, presets=PRESETS, columns=build.COLUMNS,
                         links=_screen_links(current), filter_names=FILTERS, query_with=_query_with(args))


def _query_with(args: dict):
    from urllib.parse import urlencode

    def make(**changes) -> str:
        values = {**args, **changes}
        return urlencode({k: v for k, v in values.items() if v not in (None, "")})
    return make


@bp.get("/cohorts")
@session.login_required
def show_cohorts(space):
    """The cohorts screen: deposits and revenue by click (or registration) day at day 0, 1, 7, 30."""
    current = open_space(space)
    args = request.args.to_dict()
    error = None
    report = None
    try:
        basis, window, link, fmt = parse_cohort_args(args, current)
    except (ReportError, FilterError) as exc:
        error = str(exc)
    else:
        report = build.build_cohorts(current, basis, window.first_day, window.last_day, link, _today(current))
        if fmt == "csv":
            answer = build.cohorts_json(current, report)
            return csv_response(build.cohorts_csv(answer), f"{current['slug']}-cohorts-{basis}.csv")
    return render_screen("report/cohorts.html", current, "reports", status=400 if error else 200, error=error,
                         report=report, args=args, presets=PRESETS, links=_screen_links(current),
                         query_with=_query_with(args))
