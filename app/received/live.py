"""Listen mode: received-log rows pushed to the received page as they are stored.

The process's live hub (app/live.py) holds the one Redis subscription; it hands messages of the
received channels to `deliver_frames`, registered by the received log's page. Each listener carries its space and filters, so a row is
rendered once per space and only queued for listeners whose filters match.
"""
import logging

import redis
from flask import Flask, render_template

from app import services
from app.pubsub import listening_key
from app.received.capture import LISTENING_TTL_SECONDS
from app.received.rows import Filters, shown_row

log = logging.getLogger(__name__)

KIND = "received"


def mark_listening(app: Flask, space_id: int) -> None:
    """Tell every web process's log writer that the space has a listener (refresh while it stays)."""
    try:
        services.of(app).redis.set(listening_key(space_id), "1", ex=LISTENING_TTL_SECONDS)
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


def deliver_frames(items: list[tuple[int, dict, list]]) -> None:
    """The received log's renderer on the live hub: the batch's rows, space by space."""
    by_space: dict[int, tuple[list[dict], list]] = {}
    for space_id, message, listeners in items:
        by_space.setdefault(space_id, ([], listeners))[0].append(message)
    for space_id, (messages, listeners) in by_space.items():
        dispatch(space_id, messages, listeners)


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
