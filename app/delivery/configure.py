"""Creating and changing destinations: validation, default event maps, secrets shown once.

Used by the CLI and the dashboard; each function opens its own transaction.
"""
from datetime import datetime, timedelta
from typing import Any

import httpx
from flask import current_app

from app import db
from app.delivery import credentials, store
from app.conversion.wake import DELIVERY, wake
from app.delivery.destinations import DestinationError, webhook
from app.delivery.kinds import KINDS
from app.delivery.rows import Destination
from app.conversion.events import CANONICAL_EVENTS
from app.lib import clock, ssrf

MAX_EVENT_NAME = 100


def check_event_map(raw: Any, kind: str) -> dict[str, str]:
    """A map canonical event → destination name; events absent (or mapped to None/"off"/"") are off.

    None means the kind's defaults (docs/event-maps.md).
    """
    if raw is None:
        return dict(KINDS[kind].DEFAULT_EVENT_MAP)
    if not isinstance(raw, dict):
        raise DestinationError("event map must be an object of canonical event → name", field="event_map")
    result = {}
    for event, name in raw.items():
        if event not in CANONICAL_EVENTS:
            raise DestinationError(f"{str(event)[:40]!r} is not a canonical event ({', '.join(CANONICAL_EVENTS)})",
                                   field="event_map")
        if name is None or name == "" or name == "off":
            continue
        if not isinstance(name, str) or len(name) > MAX_EVENT_NAME or not name.strip() or not name.isprintable():
            raise DestinationError(f"the name for {event} must be 1-{MAX_EVENT_NAME} printable characters, or off",
                                   field=f"event_map.{event}")
        result[event] = name.strip()
    return result


def _check_name(name: str | None) -> None:
    if name is not None and (not name.strip() or len(name.strip()) > 200):
        raise DestinationError("name must be 1-200 characters", field="name")


def check_address(kind: str, config: dict) -> None:
    """Refuse, when saving, a URL whose host already is or resolves to a non-public address.

    The worker checks again on every request (DNS may change); this only spares an operator a
    destination that could never be reached. Unless ALLOW_PRIVATE_DESTINATIONS; a host that
    does not resolve (yet) is let through.
    """
    field = KINDS[kind].TARGET_FIELD
    if field is None or current_app.config["ALLOW_PRIVATE_DESTINATIONS"]:
        return
    url = httpx.URL(config[field])
    if "{" in url.host:
        return
    try:
        ssrf.resolve_public(url.host, url.port or (443 if url.scheme == "https" else 80))
    except ssrf.BlockedAddress as exc:
        raise DestinationError(str(exc), field=field) from None
    except httpx.ConnectError:
        return


def create_destination(space_id: int, kind: str, fields: dict[str, Any], *, name: str | None = None,
                       event_map: dict | None = None, check_host: bool = False,
                       accept_test: bool = False) -> tuple[Destination, str | None]:
    """Validate and save a destination; return (its row, the webhook secret shown this once or None).

    Raises DestinationError with a message naming the bad field. `check_host` also refuses a URL
    whose host resolves to a private address now (check_address).
    """
    if kind not in KINDS:
        raise DestinationError(f"kind must be one of {', '.join(KINDS)}", field="kind")
    module = KINDS[kind]
    config, secret = module.check_config({**module.app_defaults(current_app.config), **fields})
    mapping = check_event_map(event_map, kind)
    _check_name(name)
    if check_host:
        check_address(kind, config)
    app = current_app._get_current_object()
    with db.transaction() as conn:
        row = store.create_destination(
            conn, space_id, kind=kind, name=(name or "").strip() or module.default_name(config), config=config,
            secret=credentials.seal_secret(app, space_id, kind, secret) if secret else None,
            secret_hint=credentials.hint(secret) if secret else None, event_map=mapping, now=clock.now(),
            accept_test=module.accepts_test(config, accept_test))
    return row, secret if module.SECRET_SHOWN_ONCE else None


def update_destination(space_id: int, destination_id: int, fields: dict[str, Any], *, name: str | None,
                       event_map: dict | None, check_host: bool = False,
                       accept_test: bool | None = None) -> Destination:
    """Change a destination's name, settings and event map (validated like create_destination).

    The kind never changes. A CAPI access token is replaced only when `fields` carries one (an
    empty one keeps the stored token); a webhook's signing secret changes only by rotation.
    Deliveries already queued are sent with the new settings. NotFound when not the space's.
    """
    with db.connection() as conn:
        kind = store.get_destination(conn, space_id, destination_id).kind
    module = KINDS[kind]
    fields = {**module.app_defaults(current_app.config), **fields}
    config = module.check_settings(fields)
    token = module.replacement_secret(fields)
    mapping = check_event_map(event_map, kind)
    _check_name(name)
    if check_host:
        check_address(kind, config)
    app = current_app._get_current_object()
    with db.transaction() as conn:
        return store.update_destination(
            conn, space_id, destination_id, name=(name or "").strip() or module.default_name(config), config=config,
            secret=credentials.seal_secret(app, space_id, kind, token) if token else None,
            secret_hint=credentials.hint(token) if token else None, event_map=mapping,
            accept_test=None if accept_test is None and module.TEST_SWITCH else module.accepts_test(config, accept_test))


def set_event_map(space_id: int, destination_id: int, event_map: dict) -> Destination:
    """Replace a destination's event map (validated); NotFound when it is not the space's."""
    with db.transaction() as conn:
        destination = store.get_destination(conn, space_id, destination_id)
        return store.update_event_map(conn, space_id, destination_id, check_event_map(event_map, destination.kind))


def rotate_webhook_secret(space_id: int, destination_id: int) -> tuple[Destination, str]:
    """New signing secret for a webhook (shown once); the old one also signs for KEY_GRACE_HOURS."""
    app = current_app._get_current_object()
    secret = webhook.new_secret()
    grace_until: datetime = clock.now() + timedelta(hours=app.config["KEY_GRACE_HOURS"])
    with db.transaction() as conn:
        destination = store.get_destination(conn, space_id, destination_id)
        if not KINDS[destination.kind].ROTATES_SECRET:
            raise DestinationError("only webhook destinations have a signing secret to rotate")
        row = store.rotate_destination_secret(
            conn, space_id, destination_id, secret=credentials.seal_secret(app, space_id, destination.kind, secret),
            secret_hint=credentials.hint(secret), grace_until=grace_until)
    return row, secret


def pause(space_id: int, destination_id: int, reason: str = "paused by an operator") -> Destination:
    """Pause a destination: its deliveries wait (nothing is dropped) until it is resumed."""
    with db.transaction() as conn:
        return store.pause_destination(conn, space_id, destination_id, now=clock.now(), reason=reason)


def delete(space_id: int, destination_id: int) -> Destination:
    """Delete a destination; its history stays readable (store.delete_destination). NotFound when not the space's."""
    with db.transaction() as conn:
        return store.delete_destination(conn, space_id, destination_id, now=clock.now())


def resume(space_id: int, destination_id: int) -> Destination:
    """Resume a destination; everything it held becomes due now."""
    with db.transaction() as conn:
        row = store.resume_destination(conn, space_id, destination_id, now=clock.now())
    wake(current_app._get_current_object(), DELIVERY)
    return row


def public(destination: Destination) -> dict:
    """A destination as shown to operators and scripts (CLI --json, HTTP JSON): settings and hints, never a secret."""
    return {
        "id": destination.id, "kind": destination.kind, "name": destination.name,
        "config": destination.config, "secret_hint": destination.secret_hint,
        "event_map": destination.event_map, "created_at": destination.created_at.isoformat(),
        "paused_at": destination.paused_at.isoformat() if destination.paused_at else None,
        "paused_reason": destination.paused_reason,
        "failing_since": destination.failing_since.isoformat() if destination.failing_since else None,
        "accept_test": destination.accept_test,
    }
