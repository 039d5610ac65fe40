"""`flask --app wsgi destination …` and `flask --app wsgi delivery …` (docs/destinations.md, docs/delivery.md)."""
import re
import sys
from datetime import datetime, timedelta, timezone

import click
from flask import Flask

from app import db
from app.delivery import configure, manual, store
from app.delivery.destinations import DestinationError
from app.delivery.rows import Destination
from app.conversion.events import CANONICAL_EVENTS
from app.lib import clock
from app.lib.cli_output import emit as _emit, fail as _fail
from app.space.cli import space_or_fail
from app.space.store import NotFound

_RELATIVE = re.compile(r"([0-9]{1,5})([mhd])")


def _space_id(slug: str, as_json: bool) -> int:
    with db.connection() as conn:
        return space_or_fail(conn, slug, as_json)["id"]


def parse_moment(raw: str) -> datetime:
    """ISO 8601 (naive means UTC) or a span back from now: 30m, 6h, 7d."""
    match = _RELATIVE.fullmatch(raw.strip())
    if match:
        unit = {"m": "minutes", "h": "hours", "d": "days"}[match.group(2)]
        return clock.now() - timedelta(**{unit: int(match.group(1))})
    try:
        moment = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise click.BadParameter(f"{raw!r} is neither ISO 8601 (2025-01-31T12:00Z) nor a span such as 6h or 7d")
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


class Moment(click.ParamType):
    name = "time"

    def convert(self, value, param, ctx):
        return value if isinstance(value, datetime) else parse_moment(value)


def _event_map(pairs: tuple[str, ...], off: tuple[str, ...], base: dict) -> dict:
    mapping = dict(base)
    for pair in pairs:
        event, sep, name = pair.partition("=")
        if not sep:
            raise DestinationError(f"--map takes event=Name, got {pair!r}")
        mapping[event.strip()] = name
    for event in off:
        if event not in CANONICAL_EVENTS:
            raise DestinationError(f"{event!r} is not a canonical event ({', '.join(CANONICAL_EVENTS)})")
        mapping.pop(event, None)
    return mapping


def _describe(d: Destination) -> str:
    target = d.config.get("url") or d.config.get("url_template") or f"pixel {d.config.get('pixel_id')}"
    state = f"paused: {d.paused_reason}" if d.paused_at else "active"
    mapped = ", ".join(f"{k}→{v}" for k, v in d.event_map.items()) or "(every event off)"
    return f"{d.id}\t{d.kind}\t{d.name}\t{target}\t{state}\t{mapped}"


def register(app: Flask) -> None:
    """Attach the `destination` and `delivery` command groups."""

    @app.cli.group("destination")
    def destination_group():
        """Where a space's conversions are delivered: Meta CAPI, webhooks, S2S postbacks."""

    @destination_group.command("create")
    @click.argument("space")
    @click.option("--kind", type=click.Choice(sorted(configure.KINDS)), required=True)
    @click.option("--name", help="Display name (derived from the URL or pixel when omitted).")
    @click.option("--url", help="webhook: the URL that receives signed POSTs.")
    @click.option("--url-template", help="postback: URL with {macros} (see docs/postback-macros.md).")
    @click.option("--method", type=click.Choice(["GET", "POST"]), default="GET", show_default=True,
                  help="postback: HTTP method.")
    @click.option("--expect-status", type=int, help="postback: the one status that means success (default any 2xx).")
    @click.option("--pixel-id", help="capi: the dataset (pixel) id.")
    @click.option("--access-token-stdin", is_flag=True, help="capi: read the access token from standard input.")
    @click.option("--graph-version", help="capi: Graph API version (default GRAPH_API_VERSION).")
    @click.option("--test-event-code", help="capi: send to Events Manager's Test Events tab.")
    @click.option("--map", "pairs", multiple=True, metavar="EVENT=NAME", help="Override one event's name.")
    @click.option("--off", multiple=True, metavar="EVENT", help="Do not deliver this canonical event.")
    @click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
    def create_destination_command(space, kind, name, url, url_template, method, expect_status, pixel_id,
                                   access_token_stdin, graph_version, test_event_code, pairs, off, as_json):
        """Create a destination; a webhook's signing secret is printed this once."""
        space_id = _space_id(space, as_json)
        fields = {"url": url, "url_template": url_template, "method": method, "expect_status": expect_status,
                  "pixel_id": pixel_id, "test_event_code": test_event_code}
        if graph_version:
            fields["graph_version"] = graph_version
        secret_field = configure.KINDS[kind].SECRET_FIELD
        if secret_field:
            if not access_token_stdin:
                _fail(as_json, f"{kind} destinations need --access-token-stdin (the token never goes on the command line)")
            fields[secret_field] = sys.stdin.readline().strip()
        try:
            mapping = _event_map(pairs, off, configure.KINDS[kind].DEFAULT_EVENT_MAP)
            row, secret = configure.create_destination(space_id, kind, fields, name=name, event_map=mapping)
        except DestinationError as exc:
            _fail(as_json, str(exc))
        payload = {"ok": True, "destination": configure.public(row)}
        text = f"destination {row.id} created\n{_describe(row)}"
        if secret:
            payload["signing_secret"] = secret
            text += f"\nsigning secret: {secret}\nIt is shown once; store it now."
        _emit(as_json, payload, text)

    @destination_group.command("list")
    @click.argument("space")
    @click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
    def list_destinations_command(space, as_json):
        """List the space's destinations (secrets as hints only)."""
        space_id = _space_id(space, as_json)
        with db.connection() as conn:
            rows = store.list_destinations(conn, space_id)
        _emit(as_json, {"ok": True, "destinations": [configure.public(r) for r in rows]},
              "\n".join(_describe(r) for r in rows) or "no destinations")

    @destination_group.command("map")
    @click.argument("space")
    @click.argument("destination_id", type=int)
    @click.option("--map", "pairs", multiple=True, metavar="EVENT=NAME", help="Deliver EVENT under NAME.")
    @click.option("--off", multiple=True, metavar="EVENT", help="Stop delivering EVENT.")
    @click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
    def map_command(space, destination_id, pairs, off, as_json):
        """Change a destination's event map (applies to events accepted from now on)."""
        space_id = _space_id(space, as_json)
        try:
            with db.connection() as conn:
                current = store.get_destination(conn, space_id, destination_id)
            row = configure.set_event_map(space_id, destination_id, _event_map(pairs, off, current.event_map))
        except NotFound as exc:
            _fail(as_json, str(exc))
        except DestinationError as exc:
            _fail(as_json, str(exc))
        _emit(as_json, {"ok": True, "destination": configure.public(row)}, _describe(row))

    @destination_group.command("rotate-secret")
    @click.argument("space")
    @click.argument("destination_id", type=int)
    @click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
    def rotate_secret_command(space, destination_id, as_json):
        """New webhook signing secret (shown once); the old one keeps signing for KEY_GRACE_HOURS."""
        space_id = _space_id(space, as_json)
        try:
            row, secret = configure.rotate_webhook_secret(space_id, destination_id)
        except (NotFound, DestinationError) as exc:
            _fail(as_json, str(exc))
        _emit(as_json, {"ok": True, "destination": configure.public(row), "signing_secret": secret},
              f"signing secret: {secret}\nIt is shown once; store it now.")

    def set_paused(space: str, destination_id: int, as_json: bool, change) -> None:
        space_id = _space_id(space, as_json)
        try:
            row = change(space_id, destination_id)
        except NotFound as exc:
            _fail(as_json, str(exc))
        _emit(as_json, {"ok": True, "destination": configure.public(row)}, _describe(row))

    @destination_group.command("pause")
    @click.argument("space")
    @click.argument("destination_id", type=int)
    @click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
    def pause_command(space, destination_id, as_json):
        """Hold a destination's deliveries until it is resumed."""
        set_paused(space, destination_id, as_json, configure.pause)

    @destination_group.command("resume")
    @click.argument("space")
    @click.argument("destination_id", type=int)
    @click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
    def resume_command(space, destination_id, as_json):
        """Resume a paused destination; what it held is delivered now."""
        set_paused(space, destination_id, as_json, configure.resume)

    @app.cli.group("delivery")
    def delivery_group():
        """The outbox: manual retries, replays and attempt logs."""

    @delivery_group.command("retry")
    @click.argument("space")
    @click.argument("delivery_id", type=int, required=False)
    @click.option("--destination", "destination_id", type=int, help="Only this destination's deliveries.")
    @click.option("--event", type=click.Choice(CANONICAL_EVENTS), help="Only this canonical event.")
    @click.option("--since", type=Moment(), help="Events received at or after (ISO 8601, or 6h / 7d back).")
    @click.option("--until", type=Moment(), help="Events received before.")
    @click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
    def retry_command(space, delivery_id, destination_id, event, since, until, as_json):
        """Retry one delivery now, or every failed/dead one matching the filters (logged as manual)."""
        space_id = _space_id(space, as_json)
        if delivery_id is not None:
            try:
                manual.retry_delivery(space_id, delivery_id)
            except NotFound as exc:
                _fail(as_json, str(exc))
            _emit(as_json, {"ok": True, "requested": 1}, f"delivery {delivery_id} will be retried now")
            return
        if destination_id is None and event is None and since is None and until is None:
            _fail(as_json, "give a DELIVERY_ID, or at least one of --destination, --event, --since, --until")
        count = manual.retry_cell(space_id, destination_id=destination_id, event=event, start=since, end=until)
        _emit(as_json, {"ok": True, "requested": count}, f"{count} failed or dead deliveries will be retried now")

    @delivery_group.command("replay-since")
    @click.argument("space")
    @click.argument("destination_id", type=int)
    @click.argument("since", type=Moment())
    @click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
    def replay_command(space, destination_id, since, as_json):
        """Send a destination the mapped events received since SINCE that it never got."""
        space_id = _space_id(space, as_json)
        try:
            count = manual.replay_since(space_id, destination_id, since)
        except NotFound as exc:
            _fail(as_json, str(exc))
        _emit(as_json, {"ok": True, "queued": count}, f"{count} deliveries queued")

    @delivery_group.command("attempts")
    @click.argument("space")
    @click.argument("delivery_id", type=int)
    @click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
    def attempts_command(space, delivery_id, as_json):
        """Show one delivery and its attempt log."""
        space_id = _space_id(space, as_json)
        try:
            with db.connection() as conn:
                delivery = store.get_delivery(conn, space_id, delivery_id)
                attempts = store.list_attempts(conn, space_id, delivery_id)
        except NotFound as exc:
            _fail(as_json, str(exc))
        lines = [f"delivery {delivery_id}: {delivery['status']} ({delivery['attempts']} automatic attempts)"]
        lines += [f"{a['started_at']:%Y-%m-%d %H:%M:%S} {a['trigger']:6} {a['outcome']:9} {a['status_code'] or '-'}"
                  f" {a['duration_ms']}ms {a['error'] or ''}" for a in attempts]
        _emit(as_json, {"ok": True, "delivery": delivery, "attempts": attempts}, "\n".join(lines))
