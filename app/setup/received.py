"""The received log: the last ingress requests of a space with warnings, and listen mode (docs/received.md)."""
import time
from dataclasses import asdict
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, abort, current_app, redirect, request, url_for

from app import db, services
from app.conversion import journeys
from app.lib import tokens
from app.received import live as received_live
from app.received import store
from app.received.capture import LISTENING_SETTLE_SECONDS
from app.received.rows import ENDPOINTS, STATUSES, FilterError, Filters, parse_filters, rows_context
from app.web.screen import not_found, open_space, render_screen
from app.telegram import journey as telegram_journey
from app.web import session

bp = Blueprint("setup_received", __name__, url_prefix="/spaces/<space>/received")
session.register_error_pages(bp)

# How long the stream waits for a frame before sending a keep-alive comment.
LISTEN_WAIT_SECONDS = 5.0
# How often an open stream renews its space's listening mark (well within its TTL).
LISTEN_MARK_SECONDS = 10.0
ENDPOINT_OPTIONS = [("", "All endpoints")] + [(e, e) for e in ENDPOINTS]
STATUS_OPTIONS = [("", "All statuses")] + [(s, s) for s in STATUSES]


def _page(space_row: dict, filters: Filters, errors: dict, status: int = 200):
    return render_screen("setup/received/list.html", space_row, "received", status=status, filters=filters,
                         errors=errors, endpoints=ENDPOINT_OPTIONS, statuses=STATUS_OPTIONS,
                         **rows_context(space_row, filters))


@bp.get("/")
@session.login_required
def show_received(space: str):
    """The newest logged requests of the space, filtered by the URL; listen mode adds new ones live."""
    space_row = open_space(space)
    args, errors = request.args.to_dict(), {}
    while True:
        try:
            filters = parse_filters(args)
            break
        except FilterError as exc:
            # Keep the other filters as submitted; the refused one is shown with its error.
            errors[exc.field] = str(exc)
            args.pop(exc.field, None)
    return _page(space_row, filters, errors, status=400 if errors else 200)


@bp.get("/stream")
@session.login_required
def stream_received(space: str):
    """Listen mode as Server-Sent Events (htmx sse extension): the current rows, then each new one.

    1. mark the space as listened to, so log writers start publishing its rows;
    2. register with the process's hub and wait out the writers' cache of that mark;
    3. read the opening rows: any row stored later is pushed, so none falls in between.
    """
    space_row = open_space(space)
    try:
        filters = parse_filters(request.args)
    except FilterError as exc:
        abort(400, description=str(exc))
    filters = Filters(endpoint=filters.endpoint, status=filters.status, warned=filters.warned, listen=True)
    app = current_app._get_current_object()
    hub = services.of(app).live_hub
    received_live.mark_listening(app, space_row["id"])
    listener = hub.subscribe(space_row["id"], None, kind=received_live.KIND,
                             view=received_live.View(space_row, filters))
    try:
        time.sleep(LISTENING_SETTLE_SECONDS)
        first = received_live.rows_frame(rows_context(space_row, filters)["rows"])
    except BaseException:
        hub.unsubscribe(listener)
        raise

    def stream():
        # Holds no database connection while it waits: frames are rendered by the hub.
        yield "retry: 2000\n\n" + _sse(first)
        marked = time.monotonic()
        while not listener.stale:
            frame = listener.get(timeout=LISTEN_WAIT_SECONDS)
            if time.monotonic() - marked > LISTEN_MARK_SECONDS:
                received_live.mark_listening(app, space_row["id"])
                marked = time.monotonic()
            yield _sse(frame) if frame is not None else ": keep-alive\n\n"

    response = Response(stream(), mimetype="text/event-stream",
                        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    # Runs when the server closes the response, even if the client left before the first byte.
    response.call_on_close(lambda: hub.unsubscribe(listener))
    return response


def _sse(frame: str) -> str:
    return "event: received\n" + "".join(f"data: {line}\n" for line in frame.splitlines()) + "\n"


HOW = {"uid": "uid", "uid_case": "uid in another letter case", "tg_id": "Telegram user id", "eid": "eid",
       "inbox_id": "inbox id"}
MAX_QUERY = 200


@bp.get("/find")
@session.login_required
def find_journey(space: str):
    """Find journeys by uid (any letter case), Telegram user id, eid or inbox id; one match opens it."""
    space_row = open_space(space)
    query = request.args.get("q", "").strip()[:MAX_QUERY]
    matches = []
    if query:
        with db.connection() as conn:
            matches = store.find_journey_matches(conn, space_row["id"], query)
    matches = sorted(matches, key=lambda m: (m["rank"], m["uid"] or ""))
    openable = [m for m in matches if m["uid"]]
    if len(matches) == 1 and openable:
        match = openable[0]
        hint = None
        if match["how"] == "uid_case":
            hint = f"uids are case-sensitive: {query} matched {match['uid']}"
        elif match["how"] != "uid":
            hint = f"{query} is the {HOW[match['how']]} of this journey"
        return redirect(url_for(".show_journey", space=space_row["slug"], uid=match["uid"], found=hint), 303)
    return render_screen("setup/received/find.html", space_row, "received", query=query, matches=matches,
                         how=HOW)


@bp.get("/journeys/<uid>")
@session.login_required
def show_journey(space: str, uid: str):
    """One uid's journey in the space: its click, binding, events and their deliveries."""
    space_row = open_space(space)
    if not tokens.UID_RE.fullmatch(uid):
        not_found("journey")
    with db.connection() as conn:
        journey = journeys.find_journey(conn, space_row["id"], uid)
        events = journeys.list_journey_events(conn, space_row["id"], uid)
        if journey is None and not events:
            not_found("journey")
        if journey is None:
            # Only test events carry this uid: they are listed, but never open a journey.
            journey = {"uid": uid, "event_count": 0, "deposit_count": 0, "revenue": {}, "click_at": None,
                       "tg_id": None, "test_only": True}
        deliveries = journeys.list_event_deliveries(conn, space_row["id"], [e.id for e in events])
        telegram = telegram_journey.telegram_part(conn, space_row["id"], uid)
    by_event: dict[int, list[dict]] = {}
    for delivery in deliveries:
        by_event.setdefault(delivery["event_id"], []).append(delivery)
    zone = ZoneInfo(space_row["time_zone"])
    # The template's rows: each event as a dict, with its times in the space's zone and its deliveries.
    shown_events = [{**asdict(e), "at": datetime.fromtimestamp(e.occurred_at_ms / 1000, timezone.utc).astimezone(zone),
                     "received": e.received_at.astimezone(zone), "deliveries": by_event.get(e.id, [])}
                    for e in events]
    found = request.args.get("found", "")[:300] or None
    return render_screen("setup/received/journey.html", space_row, "received", journey=journey,
                         events=shown_events, zone=zone, uid=uid, telegram=telegram, notice=found)
