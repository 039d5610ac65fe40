"""The live feed: one Redis subscription per process, fanned out to that process's sockets.

A hub thread (a greenlet under gunicorn's gevent workers) listens on every space's feed channel.
For a message of a space that has viewers it renders the frame once (a short database read for
the row's link and country, or the event's delivery badges) and puts it on each viewer's queue.
Socket and SSE handlers wait on their queue and hold no database connection while idle.
Frames are HTML for the htmx ws/sse extensions: hx-swap-oob elements that prepend a feed row or
replace badges; `data-signal` tells the page which widgets to refresh (debounced in deck.js).
The same subscription carries the received log's channels to listen mode (app/received/live.py):
listeners are kept per (kind, space), so a feed viewer never gets received rows and vice versa.
"""
import json
import logging
import threading
import time
from collections import deque

import redis
from flask import Flask, render_template

from app import db
from app.dashboard import context, store
from app.pubsub import FEED_CHANNEL
from app.received import live as received_live

log = logging.getLogger(__name__)

QUEUE_SIZE = 500
SUBSCRIBE_WAIT_SECONDS = 2.0
# Most messages rendered together (one database read per kind).
BATCH_MAX = 200
PATTERN = FEED_CHANNEL.format(space_id="*")
PATTERNS = (PATTERN, received_live.RECEIVED_PATTERN)
FEED = "feed"


class Listener:
    """One viewer: a bounded queue of frames; overflowing marks it stale (it reconnects and reloads).

    `kind` is the channel it follows (the feed, or the received log with its `view`). The queue
    is a deque and an Event rather than a `queue.Queue`: the hub puts and the viewer's handler
    gets every frame of every viewer, and with one producer and one consumer the Queue's lock and
    Condition on every call are work for nothing.
    """

    def __init__(self, space_id: int, link: str | None, kind: str = FEED, view=None):
        self.space_id = space_id
        self.link = link
        self.kind = kind
        self.view = view
        self.frames: deque[str] = deque()
        self.ready = threading.Event()
        self.stale = False

    def put(self, frame: str) -> None:
        """Queue a frame without ever blocking the hub; a full queue marks the viewer stale."""
        if len(self.frames) >= QUEUE_SIZE:
            self.stale = True
        else:
            self.frames.append(frame)
        self.ready.set()

    def get(self, timeout: float) -> str | None:
        """The next frame, or None after `timeout` seconds (or once the viewer is stale)."""
        if not self.frames:
            self.ready.clear()
            # A frame put between the check and the clear is seen here; one put after it sets
            # the event again, so the wait cannot miss it.
            if not self.frames and not self.stale:
                self.ready.wait(timeout)
        return self.frames.popleft() if self.frames else None


class Hub:
    """The process's single subscription and its viewers by space."""

    def __init__(self, app: Flask):
        self.app = app
        self.listeners: dict[tuple[str, int], set[Listener]] = {}
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None
        self.subscribed = threading.Event()
        self.stopping = threading.Event()

    def stop(self) -> None:
        """End the subscription loop within a few seconds (the app is closing)."""
        self.stopping.set()

    def subscribe(self, space_id: int, link: str | None, kind: str = FEED, view=None) -> Listener:
        """Register a viewer of the space (starting the hub thread on first use)."""
        listener = Listener(space_id, link, kind, view)
        with self.lock:
            self.listeners.setdefault((kind, space_id), set()).add(listener)
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
            key = (listener.kind, listener.space_id)
            viewers = self.listeners.get(key)
            if viewers is not None:
                viewers.discard(listener)
                if not viewers:
                    del self.listeners[key]

    def _run(self) -> None:
        backoff = 0.5
        while not self.stopping.is_set():
            client = redis.Redis.from_url(self.app.config["REDIS_URL"], socket_connect_timeout=2,
                                          health_check_interval=30)
            pubsub = client.pubsub()
            try:
                pubsub.psubscribe(*PATTERNS)
                backoff = 0.5
                while not self.stopping.is_set():
                    message = pubsub.get_message(timeout=5.0)
                    batch: list[tuple] = []
                    # Drain what is already waiting: a burst is rendered with one database read.
                    while message is not None:
                        if message["type"] == "psubscribe" and message["data"] >= len(PATTERNS):
                            self.subscribed.set()
                        elif message["type"] == "pmessage":
                            batch.append((message["channel"], message["data"]))
                        if len(batch) >= BATCH_MAX:
                            break
                        message = pubsub.get_message(timeout=0.0)
                    if batch:
                        self.dispatch(batch)
            except Exception as exc:  # Redis gone, or anything else: the hub must outlive it and resubscribe
                self.subscribed.clear()
                if self.stopping.is_set():
                    break
                log.warning("live feed subscription lost (%s); reconnecting in %.1fs", exc, backoff)
                time.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
            finally:
                try:
                    pubsub.close()
                    client.close()
                except redis.RedisError:
                    pass

    def dispatch(self, batch: list[tuple[bytes | str, bytes | str]]) -> None:
        """Render a batch of published (channel, data) messages once each and queue them for viewers."""
        wanted = []
        received: dict[int, tuple[list[dict], list[Listener]]] = {}
        for channel, data in batch:
            try:
                parts = (channel.decode() if isinstance(channel, bytes) else channel).split(":")
                space_id, kind = int(parts[2]), parts[3]
            except (ValueError, IndexError):
                continue
            with self.lock:
                viewers = list(self.listeners.get((kind, space_id), ()))
            if not viewers:
                continue  # nobody here watches that space: not even worth decoding
            try:
                message = json.loads(data)
            except ValueError:
                continue
            if not isinstance(message, dict):
                continue
            if kind == received_live.KIND:
                received.setdefault(space_id, ([], viewers))[0].append(message)
            else:
                wanted.append((space_id, message, viewers))
        if received:
            self._dispatch_received(received)
        if not wanted:
            return
        try:
            with self.app.app_context():
                frames = render_frames([(space_id, message) for space_id, message, _ in wanted])
        except db.StorageUnavailable as exc:
            log.warning("live feed frames skipped: %s", exc)
            return
        except Exception:
            # A bad batch must not stop the process's only subscription.
            log.exception("live feed frames failed")
            return
        for (_, _, viewers), (link, frame) in zip(wanted, frames):
            if frame is None:
                continue
            for viewer in viewers:
                if viewer.link is None or viewer.link == link:
                    viewer.put(frame)

    def _dispatch_received(self, received: dict[int, tuple[list[dict], list[Listener]]]) -> None:
        try:
            with self.app.app_context():
                for space_id, (messages, viewers) in received.items():
                    received_live.dispatch(space_id, messages, viewers)
        except Exception:
            log.exception("received log frames failed")


def hub(app: Flask) -> Hub:
    """The process's hub, created on first use."""
    app = app._get_current_object() if hasattr(app, "_get_current_object") else app
    found = app.extensions.get("xt_live_hub")
    if found is None:
        found = app.extensions.setdefault("xt_live_hub", Hub(app))
    return found


def _event_id(message: dict) -> int | None:
    try:
        return int(message.get("inbox_id"))
    except (TypeError, ValueError):
        return None


def render_frames(messages: list[tuple[int, dict]]) -> list[tuple[str | None, str | None]]:
    """(link of the row, HTML frame) per (space_id, message); frame None when there is nothing to show.

    One read fetches every event row of the batch and one every badge set.
    """
    event_keys = [(s, _event_id(m)) for s, m in messages if m.get("type") == "event" and _event_id(m) is not None]
    badge_keys = [(s, _event_id(m)) for s, m in messages if m.get("type") == "delivery" and _event_id(m) is not None]
    with db.connection() as conn:
        rows = {(r["space_id"], r["id"]): r for r in store.list_pushed_rows(conn, event_keys)}
        badges: dict[tuple[int, int], list[dict]] = {key: [] for key in badge_keys}
        for badge in store.list_pushed_badges(conn, badge_keys):
            badges[(badge["space_id"], badge["event_id"])].append(badge)
    frames: list[tuple[str | None, str | None]] = []
    for space_id, message in messages:
        kind, event_id = message.get("type"), _event_id(message)
        if kind == "event" and (space_id, event_id) in rows:
            row = rows[(space_id, event_id)]
            shown = context.feed_row(row, row["badges"])
            frames.append((shown["link"] or None, render_template("dashboard/_feed_push.html", row=shown)))
        elif kind == "delivery" and (space_id, event_id) in badges:
            frames.append((None, render_template("dashboard/_badges_push.html", event_id=event_id,
                                                 badges=badges[(space_id, event_id)])))
        elif kind == "bind" and message.get("backfilled"):
            frames.append((None, '<div id="xt-signal" hx-swap-oob="true" data-signal="event"></div>'))
        else:
            frames.append((None, None))
    return frames


def rows_frame(rows: list[dict]) -> str:
    """The frame that replaces the whole list (sent when a socket opens: reconnects catch up)."""
    return render_template("dashboard/_feed_rows.html", rows=rows)
