"""The ingress API: POST /events, /bind, /clicks and header-less GET /e, /bind (docs/api.md)."""
import json
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from flask import Blueprint, current_app, g, jsonify, request
from werkzeug.exceptions import MethodNotAllowed

from app import db, services
from app.auth.credentials import AuthError, require_bearer, require_ingest_token
from app.conversion import store
from app.conversion.announce import announce_event
from app.conversion.events import (EVENT_FIELDS, Rejection, check_tg_id, check_time, check_uid, parse_event,
                                split_glued)
from app.lib import click_text, clock, fbc, proxies, tokens
from app.lib.group_commit import RowRefused
from app.link import store as link_store
from app.pubsub import feed_channel

# Every answered request of a known space goes to the received log (docs/received.md); the app
# factory installs that hook (app/received/capture.py).
bp = Blueprint("ingress", __name__)

BIND_FIELDS = frozenset({"uid", "tg_id"})
CLICK_TEXT_FIELDS = frozenset({"link_slug", "fbclid", "fbc", "fbp", "campaign_name", "raw_query", "utm_source",
                               "utm_medium", "utm_campaign", "utm_content", "utm_term", "client_ip", "user_agent",
                               "country"})
CLICK_FIELDS = CLICK_TEXT_FIELDS | {"clicked_at_ms"}
UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term")


@bp.before_request
def refuse_head():
    """HEAD is refused with 405 before anything is read: every GET of this API records something.

    Flask answers HEAD for every GET route by running the GET view; a link checker or a proxy
    probing GET /e or GET /bind must not record an event or a bind (docs/api.md).
    """
    if request.method == "HEAD":
        allowed = current_app.url_map.bind_to_environ(request.environ).allowed_methods()
        raise MethodNotAllowed(valid_methods=sorted(set(allowed) - {"HEAD", "OPTIONS"}))


def _error(status: str, reason: str, http_status: int, **extra: Any):
    response = jsonify(ok=False, status=status, error=reason, **extra)
    response.status_code = http_status
    if http_status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="xtracker"'
    return response


@bp.errorhandler(AuthError)
def reject_credential(exc: AuthError):
    """Every missing, wrong, misplaced or expired credential is a 401 with the reason."""
    return _error("unauthorized", exc.reason, 401)


@bp.errorhandler(Rejection)
def reject_input(exc: Rejection):
    """Refused input: the documented status, a reason, counted per space when the space is known."""
    space_id = g.get("space_id")
    if space_id is not None:
        try:
            with db.connection() as conn:
                store.count_rejection(conn, space_id, clock.now().date(), f"{request.method} {request.path}", exc.status)
        except db.StorageUnavailable:
            pass
    return _error(exc.status, exc.reason, exc.http_status)


def _json_object(allowed: frozenset[str]) -> dict:
    """The request body as a JSON object holding only `allowed` keys, or a Rejection."""
    raw = request.get_data(cache=False)
    g.received_body = raw
    if not raw.strip():
        raise Rejection("invalid_json", "request body must be a JSON object")
    try:
        body = json.loads(raw, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:
        raise Rejection("invalid_json", f"request body is not valid JSON: {str(exc)[:120]}") from None
    if not isinstance(body, dict):
        raise Rejection("invalid_json", "request body must be a JSON object")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise Rejection("invalid_request", f"unknown field {unknown[0][:64]!r}; allowed: {', '.join(sorted(allowed))}")
    return body


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not allowed")


def _query() -> dict:
    """The query's parameters (first value of each), with partner-appended `?name=value` suffixes split off."""
    fields, _ = split_glued({key: request.args.get(key) for key in request.args})
    return fields


def _ingest(space_id: int, fields: dict, *, time_field: str, source: str):
    """Validate, record and stitch one event, then signal the live feed (docs/api.md)."""
    config = current_app.config
    now = clock.now()
    event = parse_event(fields, time_field=time_field, received_ms=clock.to_ms(now),
                        max_age_ms=config["EVENT_MAX_AGE_DAYS"] * 86_400_000,
                        max_future_ms=config["EVENT_MAX_FUTURE_SECONDS"] * 1000)
    uid = event.uid
    if uid is None and event.tg_id is not None:
        # Resolving a uid from tg_id must not interleave with a bind of the same user.
        with db.transaction() as conn:
            store.lock_tg_id(conn, space_id, event.tg_id)
            uid = store.find_uid_for_tg_id(conn, space_id, event.tg_id)
            is_new, inbox_id = store.record_event(conn, space_id, event, uid=uid, received_at=now, source=source)
    else:
        try:
            is_new, inbox_id = services.of(current_app).inbox.submit(
                store.InboxItem(space_id, event, uid, now, source))
        except RowRefused as exc:
            if not exc.client_fault:
                raise
            # Only this request's row: the rest of its batch was recorded (app/lib/group_commit.py).
            raise Rejection("invalid_request", f"the event was not recorded: {exc.reason}") from None
    if is_new:
        announce_event(space_id, inbox_id, event, uid)
    return jsonify(ok=True, status="queued" if is_new else "duplicate", inbox_id=str(inbox_id))


@bp.post("/events")
def create_event():
    """Record a canonical event (Bearer)."""
    g.space_id = require_bearer()
    return _ingest(g.space_id, _json_object(EVENT_FIELDS), time_field="occurred_at_ms", source="post")


@bp.get("/e")
def create_event_from_postback():
    """Record a canonical event from a header-less postback (ingest token); extra parameters are ignored."""
    g.space_id = require_ingest_token()
    fields = _query()
    fields.pop("token", None)
    return _ingest(g.space_id, fields, time_field="t", source="get")


def _bind(space_id: int, raw_uid: Any, raw_tg_id: Any):
    """Compare-and-set uid → Telegram user, then back-fill that user's uid-less events."""
    uid = check_uid(raw_uid)
    if uid is None:
        raise Rejection("invalid_uid", "uid is required")
    tg_id = check_tg_id(raw_tg_id)
    if tg_id is None:
        raise Rejection("invalid_tg_id", "tg_id is required: the Telegram user id (message.from_user.id)")
    with db.transaction() as conn:
        store.lock_tg_id(conn, space_id, tg_id)
        result = store.bind_uid(conn, space_id, uid, tg_id, clock.now())
        backfilled = store.backfill_tg_events(conn, space_id, uid, tg_id) if result["bound"] else 0
    if not result["bound"]:
        return _error("conflict", "this uid is already bound to another Telegram user; the first bind wins",
                      409, matched=result["matched"])
    services.of(current_app).publisher.publish(feed_channel(space_id), {
        "type": "bind", "uid": uid, "tg_id": tg_id, "matched": result["matched"], "backfilled": backfilled,
    })
    return jsonify(ok=True, matched=result["matched"])


@bp.post("/bind")
def create_binding():
    """Bind a click uid to a Telegram user id (Bearer)."""
    g.space_id = require_bearer()
    body = _json_object(BIND_FIELDS)
    return _bind(g.space_id, body.get("uid"), body.get("tg_id"))


@bp.get("/bind")
def create_binding_from_postback():
    """Header-less bind (ingest token); `tg` and `tg_id` are both accepted."""
    g.space_id = require_ingest_token()
    fields = _query()
    tg = fields.get("tg")
    return _bind(g.space_id, fields.get("uid"), tg if tg not in (None, "") else fields.get("tg_id"))


def _click_fields(body: dict, now: datetime) -> tuple[dict, datetime]:
    """Validate the optional click fields; derive utm_*, fbclid from raw_query; return (fields, click time).

    raw_query too long to keep is cut (flag `raw_query_cut`, app/lib/click_text.py); any other
    field over its limit is refused, naming the limit.
    """
    fields: dict[str, Any] = {"flags": []}
    for name in CLICK_TEXT_FIELDS:
        raw = body.get(name)
        if raw is None or raw == "":
            continue
        if not isinstance(raw, str):
            raise Rejection("invalid_request", f"{name} must be a string")
        if name == "raw_query":
            fields[name] = click_text.fit(name, raw, fields["flags"])
            continue
        if len(raw) > click_text.limit_of(name) or "\x00" in raw:
            raise Rejection("invalid_request", f"{name} must be at most {click_text.limit_of(name)} characters")
        fields[name] = raw
    config = current_app.config
    clicked_ms = check_time(body.get("clicked_at_ms"), received_ms=clock.to_ms(now),
                            max_age_ms=config["EVENT_MAX_AGE_DAYS"] * 86_400_000,
                            max_future_ms=config["EVENT_MAX_FUTURE_SECONDS"] * 1000)
    if "client_ip" in fields:
        # The landing's normalisation (app/lib/proxies.py): the same visitor is the same address.
        address = proxies.normalize_address(fields["client_ip"])
        if address is None:
            raise Rejection("invalid_request", "client_ip must be an IPv4 or IPv6 address")
        fields["client_ip"] = address
    if "country" in fields:
        country = fields["country"].strip().upper()
        if len(country) != 2 or not country.isascii() or not country.isalpha():
            raise Rejection("invalid_request", "country must be a two-letter ISO 3166 code")
        fields["country"] = country
    if "fbc" in fields:
        fbclid = fbc.fbclid_of(fields["fbc"])
        if fbclid is None:
            raise Rejection("invalid_request", "fbc must be Meta's click id cookie: fb.<0-2>.<creation ms>.<fbclid>")
        fields.setdefault("fbclid", fbclid)
    if fields.get("raw_query"):
        query = dict(parse_qsl(fields["raw_query"].lstrip("?"), keep_blank_values=False))
        for name in (*UTM_FIELDS, "fbclid", "campaign_name", "campaign_id", "adset_name", "adset_id", "ad_name", "ad_id"):
            if name not in fields and query.get(name):
                fields[name] = click_text.fit(name, query[name], fields["flags"])
    return fields, clock.from_ms(clicked_ms)


@bp.post("/clicks")
def create_click():
    """Back-fill a click that did not come through the tracker's landing and mint its uid (Bearer).

    The click is dated `clicked_at_ms` when given (same window as occurred_at_ms), else now. A
    well-formed client `fbc` is kept byte for byte; otherwise one is built from the fbclid and the
    click's own time, so it is never dated after the events the click attributes.
    """
    g.space_id = require_bearer()
    fields, clicked_at = _click_fields(_json_object(CLICK_FIELDS), clock.now())
    if "fbc" not in fields and fields.get("fbclid"):
        fields["fbc"] = fbc.build(clock.to_ms(clicked_at), fields["fbclid"])
    with db.connection() as conn:
        if "link_slug" in fields:
            _apply_link(conn, g.space_id, fields)
        uid = store.create_click(conn, g.space_id, tokens.new_uid(clicked_at), clicked_at, "api", fields)
    return jsonify(ok=True, uid=uid)


def _apply_link(conn, space_id: int, fields: dict) -> None:
    """Attach the space's link named by link_slug and fill campaign fields the click lacks from its defaults.

    A slug that names no link of the space is kept as a plain label (clicks from links made
    outside XTRACKER can still be grouped by it).
    """
    link = link_store.find_link_by_slug(conn, space_id, fields["link_slug"])
    if link is None:
        return
    fields["link_id"] = link.id
    for name, value in link.campaign_defaults.items():
        fields.setdefault(name, value)
