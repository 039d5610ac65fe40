"""`flask --app wsgi telegram …` and `journey show`: the channel funnel and journeys for scripts."""
import sys

import click
from flask import Flask, current_app

from app import db
from app.lib.cli_output import emit as _emit, fail as _fail
from app.space.cli import space_or_fail as _space
from app.telegram import bots, journey, pool, status as telegram_status, store


def register(app: Flask) -> None:
    """Attach the `telegram` and `journey` command groups."""

    @app.cli.group("telegram")
    def telegram_group():
        """The space's own bot and channels (docs/telegram-channel-funnel.md)."""

    @telegram_group.command("connect")
    @click.argument("space")
    @click.option("--bot-token-stdin", is_flag=True, required=True, help="Read the bot token from standard input.")
    @click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
    def connect_command(space, bot_token_stdin, as_json):
        """Connect the space's bot (token from stdin, stored encrypted) and register its webhook."""
        token = sys.stdin.readline().strip()
        with db.connection() as conn:
            row = _space(conn, space, as_json)
        try:
            result = bots.connect(row["id"], token)
        except (bots.TelegramError, store.BotTaken) as exc:
            _fail(as_json, str(exc))
        bot = result.bot
        payload = {"bot": bot["username"], "bot_id": bot["bot_id"], "webhook_url": bot["webhook_url"],
                   "webhook_error": result.webhook_error}
        if result.webhook_error:
            _emit(as_json, {"ok": False, **payload, "error": result.webhook_error},
                  f"bot @{bot['username']} connected, but {result.webhook_error}")
            raise SystemExit(1)
        _emit(as_json, payload, f"bot @{bot['username']} connected; webhook {bot['webhook_url']}")

    @telegram_group.command("disconnect")
    @click.argument("space")
    @click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
    def disconnect_command(space, as_json):
        """Disconnect the space's bot: deleteWebhook, forget its token; join requests, joins and leaves stay."""
        with db.connection() as conn:
            row = _space(conn, space, as_json)
        try:
            result = bots.disconnect(row["id"])
        except bots.TelegramError as exc:
            _fail(as_json, str(exc))
        payload = {"ok": True, "space": row["slug"], "bot": result.username, "bot_id": result.bot_id,
                   "messages_stopped": result.messages_stopped,
                   "requests_left_for_a_human": result.requests_left_for_a_human,
                   "webhook_error": result.webhook_error}
        _emit(as_json, payload, f"bot @{result.username} disconnected and its token forgotten"
                                + (f"; {result.webhook_error}" if result.webhook_error else ""))

    @telegram_group.group("channel")
    def channel_group():
        """Channels where the space's bot is an administrator."""

    # A chat id is negative (-100…): unknown "options" are taken as the CHAT_ID argument.
    @channel_group.command("add", context_settings={"ignore_unknown_options": True})
    @click.argument("space")
    @click.argument("chat_id")
    @click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
    def add_channel_command(space, chat_id, as_json):
        """Connect a channel (chat id -100… or @username) after checking the bot's admin and invite rights."""
        with db.connection() as conn:
            row = _space(conn, space, as_json)
        try:
            channel = bots.add_channel(row["id"], chat_id)
        except bots.TelegramError as exc:
            _fail(as_json, str(exc))
        filled = pool.top_up(current_app._get_current_object(), row["id"], channel["chat_id"])
        with db.connection() as conn:
            counts = store.count_pool(conn, row["id"], channel["chat_id"])
        payload = {"ok": True, "space": row["slug"], "chat_id": channel["chat_id"], "title": channel["title"],
                   "username": channel["username"], "type": channel["chat_type"], "connected": channel["connected"],
                   "auto_approve": channel["auto_approve"],
                   "pool": {**counts, "target": current_app.config["TELEGRAM_POOL_SIZE"], "error": filled["error"]}}
        _emit(as_json, payload, f"channel {channel['title']} ({channel['chat_id']}) connected;"
                                f" {counts['ready']} invite links ready")

    @channel_group.command("approve", context_settings={"ignore_unknown_options": True})
    @click.argument("space")
    @click.argument("chat_id", type=int)
    @click.argument("switch", type=click.Choice(["on", "off"]))
    @click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
    def approve_switch_command(space, chat_id, switch, as_json):
        """Approve join requests automatically (on, the default) or leave them for a human (off)."""
        with db.transaction() as conn:
            row = _space(conn, space, as_json)
            if not store.set_auto_approve(conn, row["id"], chat_id, switch == "on"):
                _fail(as_json, f"no channel {chat_id} in space {row['slug']}")
        _emit(as_json, {"ok": True, "chat_id": chat_id, "auto_approve": switch == "on"},
              f"channel {chat_id}: auto-approve {switch}")

    @telegram_group.command("status")
    @click.argument("space")
    @click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
    def status_command(space, as_json):
        """Bot, webhook and queue health, each channel's pool and drip, joins and leaves per link."""
        with db.connection() as conn:
            row = _space(conn, space, as_json)
        payload = {"ok": True, "space": row["slug"], **telegram_status.status(row["id"])}
        lines = []
        bot = payload["bot"]
        lines.append(f"bot: @{bot['bot']} webhook {bot['webhook_url']}"
                     + (f" ERROR {bot['webhook_error']}" if bot["webhook_error"] else "") if bot else "bot: none")
        lines.append(f"updates pending: {payload['queue']['pending']}, failed: {payload['queue']['failed']}")
        for c in payload["channels"]:
            lines.append(f"{c['chat_id']} {c['title']}: {'connected' if c['connected'] else 'DISCONNECTED: ' + (c['status_note'] or '')}"
                         f"; pool {c['pool']['ready']}/{c['pool']['target']} ready, exhausted {c['pool']['exhausted_count']}x")
        _emit(as_json, payload, "\n".join(lines))

    @app.cli.group("journey")
    def journey_group():
        """Journeys: one uid from click to deposit."""

    @journey_group.command("show")
    @click.argument("space")
    @click.argument("uid")
    @click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
    def show_journey_command(space, uid, as_json):
        """Print a journey: click, binding, events with status and time, deliveries, channel membership."""
        with db.connection() as conn:
            row = _space(conn, space, as_json)
        found = journey.journey_json(row["id"], uid)
        if found is None:
            _fail(as_json, f"no journey {uid!r} in space {row['slug']}")
        payload = {"ok": True, "space": row["slug"], **found}
        text = [f"journey {uid}: {len(found['events'])} events"]
        for e in found["events"]:
            text.append(f"  {e['occurred_at']} {e['event']} ({e['status']})"
                        + "".join(f" {d['destination']}:{d['status']}" for d in e["deliveries"]))
        for m in found["telegram"]["membership"]:
            text.append(f"  {m['at']} {m['kind']} {m['channel']}")
        _emit(as_json, payload, "\n".join(text))
