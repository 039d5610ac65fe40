"""Waking the delivery workers: Redis carries the signal, Postgres the work.

A wake-up enqueues one `jobs.delivery.deliver_due` RQ job, and only when none is queued and not
yet started: the `xt:delivery:wake` key is set (NX) together with the enqueue and deleted by the
job when it starts, so a burst of events produces one job, and an event committed after a job
started produces the next one. Everything here is fail-soft: if Redis is away the sweeper
(jobs/scheduler.py) wakes the workers later, and nothing is lost because the rows are in
Postgres.

Web processes do not even pay a Redis round trip per event: `nudge()` only sets a flag, and a
background thread (a greenlet under gevent) turns a burst of nudges into one wake-up, and only
when some delivery is due (one indexed EXISTS), so ingest for spaces without destinations
enqueues nothing.
"""
import logging
import threading
import time

import redis
from flask import Flask
from rq import Queue

from app import db
from app.delivery import store
from app.lib import clock

log = logging.getLogger(__name__)

QUEUE = "xt-delivery"
JOB = "jobs.delivery.deliver_due"
WAKE_KEY = "xt:delivery:wake"
# If a queued job is lost with its key still set, the key expiring lets the next wake-up through.
WAKE_TTL_SECONDS = 60
JOB_TIMEOUT_SECONDS = 900
COALESCE_SECONDS = 0.05
PAUSE_AFTER_FAILURE_SECONDS = 1.0

_EXTENSION = "xt_delivery_waker"


def wake(app: Flask) -> bool:
    """Make sure a deliver_due job is queued; False (logged) when Redis is unreachable."""
    client = app.extensions["xt_redis"]
    try:
        if client.set(WAKE_KEY, b"1", nx=True, ex=WAKE_TTL_SECONDS):
            Queue(QUEUE, connection=client).enqueue(JOB, job_timeout=JOB_TIMEOUT_SECONDS, result_ttl=0,
                                                    failure_ttl=86400)
        return True
    except (redis.RedisError, OSError) as exc:
        log.warning("waking the delivery workers failed (the sweeper will): %s", exc)
        return False


def woken(app: Flask) -> None:
    """Called by the job as it starts: the next wake-up must enqueue a new job."""
    try:
        app.extensions["xt_redis"].delete(WAKE_KEY)
    except (redis.RedisError, OSError) as exc:
        log.warning("clearing the delivery wake-up key failed: %s", exc)


class _Waker:
    """Coalesces nudges from request handlers into at most one wake-up per COALESCE_SECONDS."""

    def __init__(self, app: Flask):
        self.app = app
        self._nudged = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def nudge(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    # Started on first use, inside the serving process (never before a fork).
                    self._thread = threading.Thread(target=self._run, name="delivery-waker", daemon=True)
                    self._thread.start()
        self._nudged.set()

    def _run(self) -> None:
        while True:
            self._nudged.wait()
            time.sleep(COALESCE_SECONDS)
            self._nudged.clear()
            try:
                woke = not self._anything_due() or wake(self.app)
            except Exception:  # this thread must outlive any failure (e.g. the client closed under it)
                log.exception("waking the delivery workers failed (the sweeper will)")
                woke = False
            if not woke:
                time.sleep(PAUSE_AFTER_FAILURE_SECONDS)


    def _anything_due(self) -> bool:
        # Events of spaces without destinations fan out to nothing: no job for them.
        try:
            with db.connection(self.app.extensions["xt_pool"]) as conn:
                return store.find_next_due(conn, clock.system_now())
        except db.StorageUnavailable:
            return False


def nudge(app: Flask) -> None:
    """Ask for a wake-up soon, without any I/O in the caller (call after the event's commit)."""
    waker = app.extensions.get(_EXTENSION)
    if waker is None:
        waker = app.extensions.setdefault(_EXTENSION, _Waker(app))
    waker.nudge()
