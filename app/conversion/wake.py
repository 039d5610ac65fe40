"""Waking the workers: Redis carries the signal, Postgres the work.

A wake-up enqueues one RQ job, and only when none is queued and not yet started: the target's key
(`xt:delivery:wake`, `xt:telegram:wake`) is set (NX) together with the enqueue and deleted by the
job when it starts, so a burst of commits produces one job, and a commit after a job started
produces the next one. Everything here is fail-soft: if Redis is away the sweeper
(jobs/scheduler.py) wakes the workers later, and nothing is lost because the rows are in
Postgres.

Web processes do not even pay a Redis round trip per commit: `nudge()` only sets a flag, and a
background thread (a greenlet under gevent) turns a burst of nudges into one wake-up. The
delivery target asks first whether some delivery is due (one indexed EXISTS), so ingest for
spaces without destinations enqueues nothing.
"""
import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Callable

import psycopg
import redis
from flask import Flask
from rq import Queue

from app import db, services
from app.conversion import store
from app.lib import clock

log = logging.getLogger(__name__)

# If a queued job is lost with its key still set, the key expiring lets the next wake-up through.
WAKE_TTL_SECONDS = 60
PAUSE_AFTER_FAILURE_SECONDS = 1.0


@dataclass(frozen=True)
class WakeTarget:
    """One kind of worker job a commit can wake: its queue, job, coalescing key and pause."""
    name: str
    queue: str
    job: str
    key: str
    job_timeout_seconds: int
    coalesce_seconds: float
    # Asked (off the request) before waking; None: always wake.
    due: Callable[[psycopg.Connection, datetime], bool] | None = None


DELIVERY = WakeTarget("delivery workers", "xt-delivery", "jobs.delivery.deliver_due", "xt:delivery:wake",
                      job_timeout_seconds=900, coalesce_seconds=0.05, due=store.find_next_due)
TELEGRAM = WakeTarget("Telegram worker", "xt-telegram", "jobs.telegram.process_due", "xt:telegram:wake",
                      job_timeout_seconds=600, coalesce_seconds=0.005)


def wake(app: Flask, target: WakeTarget) -> bool:
    """Make sure the target's job is queued; False (logged) when Redis is unreachable."""
    client = services.of(app).redis
    try:
        if client.set(target.key, b"1", nx=True, ex=WAKE_TTL_SECONDS):
            Queue(target.queue, connection=client).enqueue(target.job, job_timeout=target.job_timeout_seconds,
                                                           result_ttl=0, failure_ttl=86400)
        return True
    except (redis.RedisError, OSError) as exc:
        log.warning("waking the %s failed (the sweeper will): %s", target.name, exc)
        return False


def woken(app: Flask, target: WakeTarget) -> None:
    """Called by the job as it starts: the next wake-up must enqueue a new job."""
    try:
        services.of(app).redis.delete(target.key)
    except (redis.RedisError, OSError) as exc:
        log.warning("clearing the %s wake-up key failed: %s", target.name, exc)


class Waker:
    """Coalesces nudges from request handlers into at most one wake-up of `target` per its pause."""

    def __init__(self, app: Flask, target: WakeTarget):
        self.app = app
        self.target = target
        self._nudged = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def nudge(self) -> None:
        """Ask for a wake-up soon, without any I/O in the caller (call after the commit)."""
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    # Started on first use, inside the serving process (never before a fork).
                    self._thread = threading.Thread(target=self._run, daemon=True,
                                                    name=self.target.queue.removeprefix("xt-") + "-waker")
                    self._thread.start()
        self._nudged.set()

    def _run(self) -> None:
        while True:
            self._nudged.wait()
            time.sleep(self.target.coalesce_seconds)
            self._nudged.clear()
            try:
                woke = not self._anything_due() or wake(self.app, self.target)
            except Exception:  # this thread must outlive any failure (e.g. the client closed under it)
                log.exception("waking the %s failed (the sweeper will)", self.target.name)
                woke = False
            if not woke:
                time.sleep(PAUSE_AFTER_FAILURE_SECONDS)

    def _anything_due(self) -> bool:
        # Events of spaces without destinations fan out to nothing: no job for them.
        if self.target.due is None:
            return True
        try:
            with db.connection(services.of(self.app).pool) as conn:
                return self.target.due(conn, clock.system_now())
        except db.StorageUnavailable:
            return False


def nudge(app: Flask, target: WakeTarget) -> None:
    """Ask for a wake-up of `target` soon, without any I/O in the caller (call after the commit)."""
    found = services.of(app)
    (found.delivery_waker if target is DELIVERY else found.telegram_waker).nudge()
