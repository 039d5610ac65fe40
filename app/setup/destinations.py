"""The destinations screen: add and edit CAPI / webhook / postback, event maps, pause, send a test event."""
from datetime import timedelta

from flask import Blueprint, abort, current_app, g, make_response, redirect, render_template, request, url_for

from app import db
from app.delivery import configure, store, test_send
from app.delivery.destinations import DestinationError
from app.delivery.rows import Destination
from app.conversion.events import CANONICAL_EVENTS
from app.lib import clock
from app.web.screen import can, done, not_found, notice, open_space, render_screen
from app.space.store import NotFound
from app.web import once, session

bp = Blueprint("setup_destinations", __name__, url_prefix="/spaces/<space>/destinations")
session.register_error_pages(bp)

COUNT_WINDOW = timedelta(hours=24)
DONE = {
    "created": "Destination created. It receives the events accepted from now on.",
    "saved": "Destination saved. Deliveries still queued go out with the new settings and event map.",
    "paused": "Destination paused. Its deliveries wait, nothing is dropped, until it is resumed.",
    "resumed": "Destination resumed. Everything it held is due now.",
    "deleted": "Destination deleted. It gets no new events; its past deliveries stay on the deck and in journeys.",
}


def _destination(space: dict, destination_id: int) -> Destination:
    """The space's destination, or a 404 (another space's id is not revealed)."""
    with db.connection() as conn:
        try:
            return store.get_destination(conn, space["id"], destination_id)
        except NotFound:
            not_found("destination")


def _counts(space_id: int) -> dict[int, dict[str, int]]:
    """Deliveries per destination and status for events received in the last 24 hours."""
    now = clock.now()
    with db.connection() as conn:
        rows = store.summarize_matrix(conn, space_id, now - COUNT_WINDOW, now + timedelta(seconds=1))
    counts: dict[int, dict[str, int]] = {}
    for r in rows:
        by_status = counts.setdefault(r["destination_id"], dict.fromkeys(store.STATUSES, 0))
        by_status[r["status"]] += r["count"]
    return counts


@bp.get("/")
@session.login_required
def show_destinations(space: str):
    """Every destination of the space: kind, state, event map, target (never a secret), last 24 h."""
    space_row = open_space(space, "viewer")
    with db.connection() as conn:
        destinations = store.list_destinations(conn, space_row["id"])
    return render_screen("setup/destinations/list.html", space_row, "destinations", destinations=destinations,
                         counts=_counts(space_row["id"]), notice=notice(DONE), **_shared(space_row))


def _shared(space: dict) -> dict:
    return {"kinds": configure.KINDS, "events": CANONICAL_EVENTS, "is_admin": can(space, "admin")}


def _form_context(space: dict, kind: str, *, destination: Destination | None, values: dict, mapping: dict,
                  errors: dict, **extra) -> dict:
    """What the new/edit form needs, whatever the outcome of a POST."""
    return {"kind": kind, "kind_spec": configure.KINDS[kind], "destination": destination, "values": values,
            "mapping": mapping, "errors": errors,
            "graph_version": current_app.config["GRAPH_API_VERSION"],
            "allow_private": current_app.config["ALLOW_PRIVATE_DESTINATIONS"], **_shared(space), **extra}


def _settings_values(destination: Destination) -> dict:
    """A saved destination's settings as form values (the access token is never one of them)."""
    config = destination.config
    values = {"name": destination.name, "accept_test": destination.accept_test}
    module = configure.KINDS[destination.kind]
    for name in module.FORM_FIELDS:
        if name != module.SECRET_FIELD:
            value = config.get(name)
            values[name] = "" if value is None else str(value)
    return values


def _submitted(kind: str) -> tuple[dict, dict]:
    """(settings for configure.py, the values to re-render) from the posted form."""
    form = request.form
    values = {"name": form.get("name", "").strip(), "accept_test": bool(form.get("accept_test"))}
    fields: dict = {}
    module = configure.KINDS[kind]
    for name in module.FORM_FIELDS:
        raw = form.get(name, "").strip()
        if name == module.SECRET_FIELD:
            fields[name] = raw
            continue
        values[name] = raw
        fields[name] = raw or None
    return module.read_form(fields), values


def _submitted_map(kind: str) -> tuple[dict | None, dict, dict]:
    """(event map for configure.py or None for the defaults, the rows to re-render, per-event errors)."""
    form = request.form
    defaults = configure.KINDS[kind].DEFAULT_EVENT_MAP
    if form.get("reset_map"):
        return None, dict(defaults), {}
    mapping, shown, errors = {}, {}, {}
    for event in CANONICAL_EVENTS:
        name = form.get(f"map_{event}", "").strip()
        if form.get(f"off_{event}"):
            shown[event] = {"name": name or defaults[event], "off": True}
            continue
        shown[event] = {"name": name, "off": False}
        if not name:
            errors[f"map_{event}"] = f"give the name to send {event} as, or tick don't send"
            continue
        try:
            mapping.update(configure.check_event_map({event: name}, kind))
        except DestinationError as exc:
            errors[f"map_{event}"] = str(exc)
    return mapping, shown, errors


def _shown_map(kind: str, event_map: dict) -> dict:
    """A saved event map as editor rows: every canonical event, off ones with the default name."""
    defaults = configure.KINDS[kind].DEFAULT_EVENT_MAP
    return {e: {"name": event_map.get(e, defaults[e]), "off": e not in event_map} for e in CANONICAL_EVENTS}


def _field_of(exc: DestinationError) -> str:
    """The form field a configure.py error belongs to."""
    name = exc.field or "_form"
    if name.startswith("event_map."):
        return "map_" + name.removeprefix("event_map.")
    return "_form" if name in ("event_map", "kind") else name


def _check_without_saving(kind: str, fields: dict, creating: bool) -> dict:
    """Settings errors to show beside event map errors, without saving anything."""
    module = configure.KINDS[kind]
    try:
        fields = {**module.app_defaults(current_app.config), **fields}
        secret_given = module.SECRET_FIELD is not None and fields.get(module.SECRET_FIELD)
        config = module.check_config(fields)[0] if creating or secret_given else module.check_settings(fields)
        configure.check_address(kind, config)
    except DestinationError as exc:
        return {_field_of(exc): str(exc)}
    return {}


@bp.get("/new")
@session.login_required
def new_destination(space: str):
    """The form for a new destination of ?kind= (or the choice of kind)."""
    space_row = open_space(space, "admin")
    kind = request.args.get("kind", "")
    if kind not in configure.KINDS:
        return render_screen("setup/destinations/choose.html", space_row, "destinations", **_shared(space_row))
    values = configure.KINDS[kind].form_defaults(current_app.config)
    return render_screen("setup/destinations/form.html", space_row, "destinations",
                         **_form_context(space_row, kind, destination=None, values=values,
                                         mapping=_shown_map(kind, configure.KINDS[kind].DEFAULT_EVENT_MAP),
                                         errors={}))


@bp.post("/new")
@session.login_required
@once.once
def create_destination(space: str):
    """Save a new destination; a webhook's signing secret is shown on the answer, once."""
    space_row = open_space(space, "admin")
    kind = request.args.get("kind") or request.form.get("kind", "")
    if kind not in configure.KINDS:
        return render_screen("setup/destinations/choose.html", space_row, "destinations", status=400,
                             error="choose a kind of destination: Meta CAPI, webhook or S2S postback",
                             **_shared(space_row))
    fields, values = _submitted(kind)
    event_map, shown, errors = _submitted_map(kind)
    if errors:
        errors.update(_check_without_saving(kind, fields, creating=True))
    else:
        try:
            row, secret = configure.create_destination(space_row["id"], kind, fields, name=values["name"] or None,
                                                       event_map=event_map, check_host=True,
                                                       accept_test=values["accept_test"])
        except DestinationError as exc:
            errors = {_field_of(exc): str(exc)}
    if errors:
        return render_screen("setup/destinations/form.html", space_row, "destinations", status=400,
                             **_form_context(space_row, kind, destination=None, values=values, mapping=shown,
                                             errors=errors, token_given=bool(fields.get("access_token"))))
    if secret:
        return _reveal_secret(space_row, row, secret, created=True)
    return done(".show_destinations", space_row, "created")


def _reveal_secret(space: dict, destination: Destination, secret: str, *, created: bool):
    """Redirect to the page that shows a webhook signing secret this one time (held server-side till then)."""
    reveal = once.hold_secret(space["id"], {"secret": secret})
    return redirect(url_for(".show_secret", space=space["slug"], destination_id=destination.id, reveal=reveal,
                            created=int(created)), 303)


@bp.get("/<int:destination_id>/secret")
@session.login_required
def show_secret(space: str, destination_id: int):
    """The signing secret a create or rotation just made, shown once; a reload says it was shown (admin)."""
    space_row = open_space(space, "admin")
    destination = _destination(space_row, destination_id)
    held = once.take_secret(space_row["id"], request.args.get("reveal"))
    body, status = render_screen("setup/destinations/secret.html", space_row, "destinations",
                                 destination=destination, secret=held.get("secret") if held else None,
                                 created=request.args.get("created") == "1", **_shared(space_row))
    return once.no_store(make_response(body, status))


def _edit_page(space: dict, destination: Destination, *, status: int = 200, values: dict | None = None,
               mapping: dict | None = None, errors: dict | None = None, **extra):
    return render_screen(
        "setup/destinations/form.html", space, "destinations", status=status,
        **_form_context(space, destination.kind, destination=destination,
                        values=values if values is not None else _settings_values(destination),
                        mapping=mapping if mapping is not None else _shown_map(destination.kind,
                                                                               destination.event_map),
                        errors=errors or {}, **extra))


@bp.get("/<int:destination_id>/edit")
@session.login_required
def edit_destination(space: str, destination_id: int):
    """The destination's settings, event map, signing secret, pause and test send (admin)."""
    space_row = open_space(space, "admin")
    return _edit_page(space_row, _destination(space_row, destination_id))


@bp.post("/<int:destination_id>/edit")
@session.login_required
@once.once
def update_destination(space: str, destination_id: int):
    """Save the destination's name, settings and event map; an empty access token keeps the stored one."""
    space_row = open_space(space, "admin")
    destination = _destination(space_row, destination_id)
    kind = destination.kind
    fields, values = _submitted(kind)
    event_map, shown, errors = _submitted_map(kind)
    if errors:
        errors.update(_check_without_saving(kind, fields, creating=False))
    else:
        try:
            configure.update_destination(space_row["id"], destination_id, fields, name=values["name"] or None,
                                         event_map=event_map, check_host=True, accept_test=values["accept_test"])
        except NotFound:
            not_found("destination")
        except DestinationError as exc:
            errors = {_field_of(exc): str(exc)}
    if errors:
        return _edit_page(space_row, destination, status=400, values=values, mapping=shown, errors=errors,
                          token_given=bool(fields.get("access_token")))
    return done(".show_destinations", space_row, "saved")


def _set_paused(space: str, destination_id: int, paused: bool):
    space_row = open_space(space, "admin")
    try:
        if paused:
            configure.pause(space_row["id"], destination_id, reason=f"paused by {g.user['email']}")
        else:
            configure.resume(space_row["id"], destination_id)
    except NotFound:
        not_found("destination")
    return done(".show_destinations", space_row, "paused" if paused else "resumed")


@bp.post("/<int:destination_id>/pause")
@session.login_required
def pause_destination(space: str, destination_id: int):
    """Hold the destination's deliveries until it is resumed (admin)."""
    return _set_paused(space, destination_id, True)


@bp.post("/<int:destination_id>/resume")
@session.login_required
def resume_destination(space: str, destination_id: int):
    """Resume the destination: what it held is due now (admin)."""
    return _set_paused(space, destination_id, False)


@bp.post("/<int:destination_id>/delete")
@session.login_required
@once.once
def delete_destination(space: str, destination_id: int):
    """Delete the destination; its deliveries stay readable in the matrix and journeys (admin)."""
    space_row = open_space(space, "admin")
    try:
        configure.delete(space_row["id"], destination_id)
    except NotFound:
        not_found("destination")
    return done(".show_destinations", space_row, "deleted")


@bp.post("/<int:destination_id>/rotate-secret")
@session.login_required
@once.once
def rotate_secret(space: str, destination_id: int):
    """A new webhook signing secret, shown once; the previous one keeps signing for KEY_GRACE_HOURS."""
    space_row = open_space(space, "admin")
    destination = _destination(space_row, destination_id)
    if not configure.KINDS[destination.kind].ROTATES_SECRET:
        abort(404, description="only webhook destinations have a signing secret")
    try:
        row, secret = configure.rotate_webhook_secret(space_row["id"], destination_id)
    except NotFound:
        not_found("destination")
    return _reveal_secret(space_row, row, secret, created=False)


@bp.post("/<int:destination_id>/test")
@session.login_required
@once.once
def send_test_event(space: str, destination_id: int):
    """Send a synthetic test event now and show the exact request and response (nothing is queued or counted)."""
    space_row = open_space(space, "admin")
    destination = _destination(space_row, destination_id)
    event = request.form.get("event", "")
    errors, report = {}, None
    if event not in CANONICAL_EVENTS:
        errors["event"] = f"choose one of {', '.join(CANONICAL_EVENTS)}"
    else:
        try:
            report = test_send.send_test_event(current_app._get_current_object(), space_row["id"], space_row["slug"],
                                               destination_id, event)
        except NotFound:
            not_found("destination")
        except DestinationError as exc:
            errors["event"] = str(exc)
    status = 400 if errors else 200
    if request.headers.get("HX-Request"):
        return render_template("setup/destinations/_test_result.html", space=space_row, destination=destination,
                               report=report, test_errors=errors, test_event=event), status
    return _edit_page(space_row, destination, status=status, report=report, test_errors=errors, test_event=event)
