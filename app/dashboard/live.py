"""The live feed: one Redis subscription per process, fanned out to that process's sockets.

A hub thread (a greenlet under gunicorn's gevent workers) listens on every space's feed channel.
For a message of a space that has viewers it renders the frame once (a short database read for
the row's link and country, or the event's delivery badges) and puts it on each viewer's queue.
Socket and SSE handlers wait on their queue and hold no database connection while idle.
Frames are HTML for the htmx ws/sse extensions: hx-swap-oob elements that prepend a feed row or
replace badges; `data-signal` tells the page which widgets to refresh (debounced in deck.js).
"""
import json
import logging
import queue
import threading
import time

import redis
from flask import Flask, render_template

from app import db
from app.dashboard import context, store
from app.pubsub import FEED_CHANNEL

log = logging.getLogger(__name__)

QUEUE_SIZE = 500
SUBSCRIBE_WAIT_SECONDS = 2.0
PATTERN = FEED_CHANNEL.format(space_id="*")


class Listener:
    """One viewer: a bounded queue of frames; overflowing marks it stale (it reconnects and reloads)."""

    def __init__(self, space_id: int, link: str | None):
        self.space_id = space_id
        self.link = link
        self.frames: queue.Queue = queue.Queue(maxsize=QUEUE_SIZE)
        self.stale = False

    def put(self, frame: str) -> None:
        """Queue a frame without ever blocking the hub."""
        try:
            self.frames.put_nowait(frame)
        except queue.Full:
            self.stale = True

    def get(self, timeout: float) -> str | None:
        """The next frame, or None after `timeout` seconds."""
        try:
            return self.frames.get(timeout=timeout)
        except queue.Empty:
            return None


class Hub:
    """The process's single subscription and its viewers by space."""

    def __init__(self, app: Flask):
        self.app = app
        self.listeners: dict[int, set[Listener]] = {}
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None
        self.subscribed = threading.Event()
        self.delivered = 0

    def subscribe(self, space_id: int, link: str | None) -> Listener:
        """Register a viewer of the space (starting the hub thread on first use)."""
        listener = Listener(space_id, link)
        with self.lock:
            self.listeners.setdefault(space_id, set()).add(listener)
            if self.thread is None:
                self.thread = threading.Thread(target=self._run, name="xt-live-hub", daemon=True)
                self.thread.start()
        # The first viewer waits (briefly) for the subscription, so nothing published after its
        # opening rows is missed; later viewers find it ready.
        self.subscribed.wait(timeout=SUBSCRIBE_WAIT_SECONDS)
        return listener

    def unsubscribe(self, listener: Listener) -> None:
        """Forget a viewer."""
        with self.lock:
            viewers = self.listeners.get(listener.space_id)
            if viewers is not None:
                viewers.discard(listener)
                if not viewers:
                    del self.listeners[listener.space_id]

    def viewer_count(self) -> int:
        """Viewers connected to this process."""
        with self.lock:
            return sum(len(v) for v in self.listeners.values())

    def _run(self) -> None:
        backoff = 0.5
        while True:
            client = redis.Redis.from_url(self.app.config["REDIS_URL"], socket_connect_timeout=2,
                                          health_check_interval=30)
            pubsub = client.pubsub()
            try:
                pubsub.psubscribe(PATTERN)
                backoff = 0.5
                while True:
                    message = pubsub.get_message(timeout=5.0)
                    if message is None:
                        continue
                    if message["type"] == "psubscribe":
                        self.subscribed.set()
                    elif message["type"] == "pmessage":
                        self.dispatch(message["channel"], message["data"])
            except redis.RedisError as exc:
                self.subscribed.clear()
                log.warning("live feed subscription lost (%s); reconnecting in %.1fs", exc, backoff)
                time.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
            finally:
                try:
                    pubsub.close()
                    client.close()
                except redis.RedisError:
                    pass

    def dispatch(self, channel: bytes | str, data: bytes | str) -> None:
        """Render one published message once and queue it for the space's viewers."""
        try:
            space_id = int((channel.decode() if isinstance(channel, bytes) else channel).split(":")[2])
            message = json.loads(data)
        except (ValueError, IndexError):
            return
        with self.lock:
            viewers = list(self.listeners.get(space_id, ()))
        if not viewers:
            return
        try:
            with self.app.app_context():
                link, frame = render_frame(space_id, message)
        except db.StorageUnavailable as exc:
            log.warning("live feed frame skipped: %s", exc)
            return
        except Exception:
            # One bad message must not stop the process's only subscription.
            log.exception("live feed frame for space %s failed", space_id)
            return
        if frame is None:
            return
        for viewer in viewers:
            if viewer.link is None or viewer.link == link:
                viewer.put(frame)
                self.delivered += 1


def hub(app: Flask) -> Hub:
    """The process's hub, created on first use."""
    app = app._get_current_object() if hasattr(app, "_get_current_object") else app
    found = app.extensions.get("xt_live_hub")
    if found is None:
        found = app.extensions.setdefault("xt_live_hub", Hub(app))
    return found


def render_frame(space_id: int, message: dict) -> tuple[str | None, str | None]:
    """(link of the row, HTML frame) for one feed message; frame None when there is nothing to show."""
    kind = message.get("type")
    if kind == "event":
        try:
            event_id = int(message.get("inbox_id"))
        except (TypeError, ValueError):
            return None, None
        with db.connection() as conn:
            row = store.find_feed_row(conn, space_id, event_id)
        if row is None:
            return None, None
        shown = context.feed_row(row, row["badges"])
        return shown["link"] or None, render_template("dashboard/_feed_push.html", row=shown)
    if kind == "delivery":
        try:
            event_id = int(message.get("inbox_id"))
        except (TypeError, ValueError):
            return None, None
        with db.connection() as conn:
            badges = store.list_event_badges(conn, space_id, [event_id])
        return None, render_template("dashboard/_badges_push.html", event_id=event_id, badges=badges)
    if kind == "bind" and message.get("backfilled"):
        return None, '<div id="xt-signal" hx-swap-oob="true" data-signal="event"></div>'
    return None, None


def rows_frame(rows: list[dict]) -> str:
    """The frame that replaces the whole list (sent when a socket opens: reconnects catch up)."""
    return render_template("dashboard/_feed_rows.html", rows=rows)
