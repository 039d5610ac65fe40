"""The deck page and its partials under /spaces/<space>/ (docs/dashboard.md)."""
from decimal import Decimal
from urllib.parse import urlsplit

from flask import Blueprint, Response, abort, current_app, g, render_template, request
from flask_sock import Sock

from app import db, services
from app.dashboard import context, live
from app.reporting.filters import PRESETS, FilterError, Filters, check_filters, parse_filters
from app.delivery import manual
from app.delivery import store as delivery_store
from app.lib import clock
from app.lib.currency import minor_units
from app.reporting import store as reporting
from app.space.store import NotFound
from app.web import session
from app.web import store as web_store

bp = Blueprint("dashboard", __name__, url_prefix="/spaces/<space>")
session.register_error_pages(bp)
sock = Sock()

# How long a live handler waits for a frame before re-checking that its client is still there.
LIVE_WAIT_SECONDS = 5.0

PARTIALS = ("funnel", "gauge", "revenue", "map", "attribution", "feed")
# Widgets whose own URL the page loads after it renders (their data is not in the rollups).
LAZY_PARTIALS = ("matrix",)
EVENTS = ("contact", "subscribed", "registration", "deposit")


@bp.app_template_filter("number")
def format_number(value) -> str:
    """1234567 → '1,234,567'."""
    return f"{int(value or 0):,}"


@bp.app_template_filter("money")
def format_money(value, currency: str | None = None) -> str:
    """A Decimal amount with thousands separators and the currency's decimals (ISO 4217; 2 without one)."""
    return f"{Decimal(value or 0):,.{minor_units(currency)}f}"


@bp.app_template_filter("percent")
def format_percent(value) -> str:
    """0.1234 → '12.3%'; None → '—'."""
    return "—" if value is None else f"{100 * value:.1f}%"


def _filters(space: dict) -> Filters:
    try:
        return parse_filters(request.args, space["time_zone"], clock.now())
    except FilterError as exc:
        abort(400, description=str(exc))


def _context(name: str, space: dict, filters: Filters) -> dict:
    if name == "map":
        return context.map_context(space, filters, request.args.get("metric", "clicks"))
    if name == "attribution":
        return context.attribution_context(space, filters, request.args.get("sort", "deposit"),
                                           request.args.get("dir", "desc"))
    return getattr(context, f"{name}_context")(space, filters)


def _open(space_slug: str, min_role: str = "viewer") -> tuple[dict, Filters]:
    space = session.member_space(space_slug, min_role)
    filters = _filters(space)
    with db.connection() as conn:
        reporting.fold(conn, space["id"])
    return space, filters


@bp.get("/")
@session.login_required
def show_deck(space: str):
    """The whole deck: filters and every widget. Unknown filter values are dropped with a notice and a
    bad custom range is shown at the filter (the deck then shows the default range), never an error page."""
    space_row = session.member_space(space, "viewer")
    with db.connection() as conn:
        links = reporting.list_links(conn, space_row["id"])
        spaces = web_store.list_user_spaces(conn, g.user["id"])
        reporting.fold(conn, space_row["id"])
    checked = check_filters(request.args, space_row["time_zone"], clock.now(), {l["slug"] for l in links})
    filters = checked.filters
    widgets = {name: _context(name, space_row, filters) for name in PARTIALS}
    status = 400 if checked.errors else 200
    return render_template("dashboard/deck.html", space=space_row, spaces=spaces, filters=filters, links=links,
                           presets=PRESETS, widgets=widgets, checked=checked), status


@bp.get("/partials/<name>")
@session.login_required
def show_partial(space: str, name: str):
    """One widget, rendered alone from the same context as on the page."""
    if name not in PARTIALS + LAZY_PARTIALS:
        abort(404, description=f"no widget {name!r}")
    space_row, filters = _open(space)
    return render_template(f"dashboard/_{name}.html", space=space_row, filters=filters,
                           **{name: _context(name, space_row, filters)})


def _int_arg(name: str) -> int:
    raw = request.values.get(name, "")
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        abort(400, description=f"`{name}` must be a positive whole number")
    return int(raw)


def _event_arg() -> str:
    event = request.values.get("event", "")
    if event not in EVENTS:
        abort(400, description=f"`event` must be one of {', '.join(EVENTS)}")
    return event


@bp.get("/partials/cell")
@session.login_required
def show_cell(space: str):
    """A matrix cell's failed and dead deliveries, with last error."""
    space_row, filters = _open(space)
    try:
        cell = context.cell_context(space_row, filters, _int_arg("destination"), _event_arg())
    except NotFound:
        abort(404, description="no such destination in this space")
    return render_template("dashboard/_cell.html", space=space_row, filters=filters, cell=cell)


@bp.get("/deliveries/<int:delivery_id>")
@session.login_required
def show_attempts(space: str, delivery_id: int):
    """One delivery's attempt log with request and response excerpts."""
    space_row, filters = _open(space)
    try:
        attempts = context.attempts_context(space_row, delivery_id)
    except NotFound:
        abort(404, description="no such delivery in this space")
    return render_template("dashboard/_attempts.html", space=space_row, filters=filters, attempts=attempts)


@bp.post("/deliveries/<int:delivery_id>/retry")
@session.login_required
def retry_delivery(space: str, delivery_id: int):
    """Attempt one delivery now (operator)."""
    space_row = session.member_space(space, "operator")
    try:
        manual.retry_delivery(space_row["id"], delivery_id)
    except NotFound:
        abort(404, description="no such delivery in this space")
    return render_template("dashboard/_retried.html", count=1, delivery_id=delivery_id)


@bp.post("/matrix/retry")
@session.login_required
def retry_cell(space: str):
    """Attempt now every failed and dead delivery of a cell in the range (operator)."""
    space_row, filters = _open(space, "operator")
    destination_id, event = _int_arg("destination"), _event_arg()
    with db.connection() as conn:
        try:
            delivery_store.get_destination(conn, space_row["id"], destination_id)
        except NotFound:
            abort(404, description="no such destination in this space")
    count = manual.retry_cell(space_row["id"], destination_id=destination_id, event=event, start=filters.start,
                              end=filters.end)
    return render_template("dashboard/_retried.html", count=count, delivery_id=None)


@bp.before_request
def check_live_request():
    """Authenticate live streams before the upgrade, and refuse cross-site sockets."""
    if request.endpoint not in ("dashboard.live_socket", "dashboard.live_stream"):
        return None
    session.load_user()
    if g.user is None:
        abort(401, description="sign in first")
    origin = request.headers.get("Origin")
    if origin and urlsplit(origin).netloc != request.host:
        abort(403, description="live streams only open from this site's pages")
    session.member_space(request.view_args["space"])
    g.live_filters = _filters(g.space)
    return None


def _initial_rows(space_row: dict, filters: Filters) -> list[dict]:
    return context.feed_context(space_row, filters)["rows"]


@sock.route("/ws", bp=bp)
def live_socket(ws, space: str):
    """The live feed over a websocket (htmx ws extension): the last rows, then each new frame."""
    space_row, filters = g.space, g.live_filters
    listener = services.of(current_app).live_hub.subscribe(space_row["id"], filters.link)
    try:
        ws.send(live.rows_frame(_initial_rows(space_row, filters)))
        while ws.connected and not listener.stale:
            frame = listener.get(timeout=LIVE_WAIT_SECONDS)
            if frame is not None:
                ws.send(frame)
    finally:
        services.of(current_app).live_hub.unsubscribe(listener)


@bp.get("/sse")
def live_stream(space: str):
    """The same live feed as Server-Sent Events (curl, htmx sse extension): event `feed`, HTML data."""
    space_row, filters = g.space, g.live_filters
    app = current_app._get_current_object()
    first = live.rows_frame(_initial_rows(space_row, filters))

    def stream():
        listener = services.of(app).live_hub.subscribe(space_row["id"], filters.link)
        try:
            yield "retry: 2000\n\n" + _sse(first)
            while not listener.stale:
                frame = listener.get(timeout=LIVE_WAIT_SECONDS)
                yield _sse(frame) if frame is not None else ": keep-alive\n\n"
        finally:
            services.of(app).live_hub.unsubscribe(listener)

    return Response(stream(), mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _sse(frame: str) -> str:
    return "event: feed\n" + "".join(f"data: {line}\n" for line in frame.splitlines()) + "\n"
