"""Waking the Telegram worker job: Redis carries the signal, Postgres the work (like app/conversion/wake.py).

A webhook nudges after its update is committed; a background thread turns a burst of nudges into
one `jobs.telegram.process_due` job, queued only when none is waiting (the `xt:telegram:wake`
key, set NX with the enqueue and deleted by the job as it starts). If Redis is away the
scheduler's sweep wakes the worker later; nothing is lost, the updates are in Postgres.
"""
import logging
import threading
import time

import redis
from flask import Flask
from rq import Queue

log = logging.getLogger(__name__)

QUEUE = "xt-telegram"
JOB = "jobs.telegram.process_due"
WAKE_KEY = "xt:telegram:wake"
WAKE_TTL_SECONDS = 60
JOB_TIMEOUT_SECONDS = 600
COALESCE_SECONDS = 0.005
_EXTENSION = "xt_telegram_waker"


def wake(app: Flask) -> bool:
    """Make sure a process_due job is queued; False (logged) when Redis is unreachable."""
    client = app.extensions["xt_redis"]
    try:
        if client.set(WAKE_KEY, b"1", nx=True, ex=WAKE_TTL_SECONDS):
            Queue(QUEUE, connection=client).enqueue(JOB, job_timeout=JOB_TIMEOUT_SECONDS, result_ttl=0,
                                                    failure_ttl=86400)
        return True
    except (redis.RedisError, OSError) as exc:
        log.warning("waking the Telegram worker failed (the scheduler's sweep will): %s", exc)
        return False


def woken(app: Flask) -> None:
    """Called by the job as it starts: the next nudge must queue a new job."""
    try:
        app.extensions["xt_redis"].delete(WAKE_KEY)
    except (redis.RedisError, OSError) as exc:
        log.warning("clearing the Telegram wake-up key failed: %s", exc)


class _Waker:
    """Coalesces nudges from request handlers into one wake-up per short pause, off the request."""

    def __init__(self, app: Flask):
        self.app = app
        self._nudged = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def nudge(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="telegram-waker", daemon=True)
                    self._thread.start()
        self._nudged.set()

    def _run(self) -> None:
        while True:
            self._nudged.wait()
            time.sleep(COALESCE_SECONDS)
            self._nudged.clear()
            try:
                woke = wake(self.app)
            except Exception:  # this thread must outlive any failure
                log.exception("waking the Telegram worker failed (the scheduler's sweep will)")
                woke = False
            if not woke:
                time.sleep(1.0)


def nudge(app: Flask) -> None:
    """Ask for a wake-up soon, without I/O in the caller (call after the update's commit)."""
    waker = app.extensions.get(_EXTENSION)
    if waker is None:
        waker = app.extensions.setdefault(_EXTENSION, _Waker(app))
    waker.nudge()
