"""The live transport: one Redis subscription per process, fanned out to that process's viewers.

A hub thread (a greenlet under gunicorn's gevent workers) listens on the channels of every kind
registered with it (the deck's feed, the received log's listen mode). It knows nothing of what a
frame looks like: for the messages of a kind that has viewers it calls that kind's renderer once
per batch, which renders each frame once (one database read) and puts it on the viewers' queues.
Socket and SSE handlers wait on their queue and hold no database connection while idle.
Listeners are kept per (kind, space), so a feed viewer never gets received rows and vice versa.
"""
import json
import logging
import threading
import time
from collections import deque
from typing import Any, Callable

import redis
from flask import Flask

from app import db

log = logging.getLogger(__name__)

QUEUE_SIZE = 500
SUBSCRIBE_WAIT_SECONDS = 2.0
# Most messages taken together (one renderer call, so one database read, per kind).
BATCH_MAX = 200
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


# A kind's renderer: given (space id, message, its viewers) for a batch, puts each frame on the viewers it suits.
Renderer = Callable[[list[tuple[int, dict, list[Listener]]]], None]


class Hub:
    """The process's single subscription, its viewers by (kind, space), and a renderer per kind."""

    def __init__(self, app: Flask):
        self.app = app
        self.renderers: dict[str, tuple[str, Renderer]] = {}
        self.listeners: dict[tuple[str, int], set[Listener]] = {}
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None
        self.subscribed = threading.Event()
        self.stopping = threading.Event()

    def register(self, kind: str, channel: str, render: Renderer) -> None:
        """Carry `kind`'s channel (a template with {space_id}) to its viewers through `render` (at start-up)."""
        self.renderers[kind] = (channel.format(space_id="*"), render)

    def stop(self) -> None:
        """End the subscription loop within a few seconds (the app is closing)."""
        self.stopping.set()

    def subscribe(self, space_id: int, link: str | None, kind: str = FEED, view: Any = None) -> Listener:
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
            patterns = [pattern for pattern, _ in self.renderers.values()]
            try:
                pubsub.psubscribe(*patterns)
                backoff = 0.5
                while not self.stopping.is_set():
                    message = pubsub.get_message(timeout=5.0)
                    batch: list[tuple] = []
                    # Drain what is already waiting: a burst is rendered with one database read.
                    while message is not None:
                        if message["type"] == "psubscribe" and message["data"] >= len(patterns):
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
        """Hand a batch of published (channel, data) messages to each kind's renderer, once per batch."""
        wanted: dict[str, list[tuple[int, dict, list[Listener]]]] = {}
        for channel, data in batch:
            try:
                parts = (channel.decode() if isinstance(channel, bytes) else channel).split(":")
                space_id, kind = int(parts[2]), parts[3]
            except (ValueError, IndexError):
                continue
            with self.lock:
                viewers = list(self.listeners.get((kind, space_id), ()))
            if not viewers or kind not in self.renderers:
                continue  # nobody here watches that space: not even worth decoding
            try:
                message = json.loads(data)
            except ValueError:
                continue
            if not isinstance(message, dict):
                continue
            wanted.setdefault(kind, []).append((space_id, message, viewers))
        for kind, items in wanted.items():
            try:
                with self.app.app_context():
                    self.renderers[kind][1](items)
            except db.StorageUnavailable as exc:
                log.warning("live %s frames skipped: %s", kind, exc)
            except Exception:
                # A bad batch must not stop the process's only subscription.
                log.exception("live %s frames failed", kind)
