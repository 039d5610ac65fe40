"""Listen mode: received-log rows pushed to the received page as they are stored.

The dashboard's hub (app/dashboard/live.py) holds the process's one Redis subscription; it hands
messages of the received channels here. Each listener carries its space and filters, so a row is
rendered once per space and only queued for listeners whose filters match.
"""
import logging

import redis
from flask import Flask, render_template

from app.pubsub import RECEIVED_CHANNEL, listening_key
from app.received.capture import LISTENING_TTL_SECONDS
from app.received.rows import Filters, shown_row

log = logging.getLogger(__name__)

RECEIVED_PATTERN = RECEIVED_CHANNEL.format(space_id="*")
KIND = "received"


def mark_listening(app: Flask, space_id: int) -> None:
    """Tell every web process's log writer that the space has a listener (refresh while it stays)."""
    try:
        app.extensions["xt_redis"].set(listening_key(space_id), "1", ex=LISTENING_TTL_SECONDS)
    except redis.RedisError as exc:
        log.warning("listen mode: could not mark space %s as listened to: %s", space_id, exc)


class View:
    """What a listen-mode listener shows: its space (slug, time zone) and the page's filters."""

    def __init__(self, space: dict, filters: Filters):
        self.space = {"id": space["id"], "slug": space["slug"], "time_zone": space["time_zone"]}
        self.filters = filters


def push_frame(row: dict, space: dict) -> str:
    """The frame that puts one new row on top of the list."""
    return render_template("setup/received/_push.html", row=shown_row(row, space))


def rows_frame(rows: list[dict]) -> str:
    """The frame that replaces the whole list (sent when a stream opens: reconnects catch up)."""
    return render_template("setup/received/_rows_push.html", rows=rows)


def dispatch(space_id: int, messages: list[dict], listeners: list) -> None:
    """Render each stored row once for the space and queue it for every listener whose filters match."""
    if not listeners:
        return
    space = listeners[0].view.space
    for message in messages:
        if message.get("type") != KIND or message.get("space_id") != space_id:
            continue
        wanting = [l for l in listeners if l.view.filters.matches(message)]
        if not wanting:
            continue
        frame = push_frame(message, space)
        for listener in wanting:
            listener.put(frame)
