"""The RQ worker process (Procfile `worker`): a non-forking SimpleWorker on XTRACKER's queues.

A forking worker manages about 100 jobs/s here; SimpleWorker runs jobs in-process, and jobs
batch their work, so the delivery rate is not bounded by job overhead.

Redis is a signal, so the process outlives it: RQ's `work()` gives up and returns (or raises)
when Redis times out or vanishes mid-job. This loop then waits for Redis with backoff
(RECONNECT_MIN_SECONDS doubling to RECONNECT_MAX_SECONDS) and starts a new RQ worker; the
deliveries themselves are in Postgres, and the scheduler's sweeper re-enqueues the wake-up a
Redis restart lost. Only SIGINT/SIGTERM end the process.
"""
import logging
import signal
import sys
import threading
import time

import redis
from rq import SimpleWorker

from app import create_app
from app.config import ConfigError
from jobs import QUEUES, queue_connection

log = logging.getLogger("xtracker.worker")

RECONNECT_MIN_SECONDS = 0.5
RECONNECT_MAX_SECONDS = 5.0


class DeliveryWorker(SimpleWorker):
    """RQ's SimpleWorker that remembers a SIGINT/SIGTERM, so the reconnect loop knows to end."""

    stop_signalled = False

    def request_stop(self, signum, frame):
        self.stop_signalled = True
        super().request_stop(signum, frame)


def wait_for_redis(connection: redis.Redis, stopping: threading.Event) -> float | None:
    """Block until Redis answers PING, retrying with exponential backoff; seconds waited, None if stopped."""
    started = time.monotonic()
    delay = RECONNECT_MIN_SECONDS
    warned = False
    while not stopping.is_set():
        try:
            connection.ping()
            return time.monotonic() - started
        except (redis.RedisError, OSError) as exc:
            if not warned:
                log.warning("Redis is unavailable (%s); retrying every %.1f-%.0f s", exc, RECONNECT_MIN_SECONDS,
                            RECONNECT_MAX_SECONDS)
                warned = True
            stopping.wait(delay)
            delay = min(delay * 2, RECONNECT_MAX_SECONDS)
    return None


def main() -> int:
    """Run RQ workers one after another until SIGINT/SIGTERM, reconnecting whenever Redis goes away."""
    app = create_app(process="worker")
    connection = queue_connection(app)
    stopping = threading.Event()

    def stop(signum, frame):
        stopping.set()

    with app.app_context():
        while True:
            # Between RQ runs the signals are ours; during work() RQ's own handlers take over.
            signal.signal(signal.SIGTERM, stop)
            signal.signal(signal.SIGINT, stop)
            waited = wait_for_redis(connection, stopping)
            if waited is None:
                return 0
            if waited >= RECONNECT_MIN_SECONDS:
                log.info("Redis answers again after %.1f s; starting a new RQ worker", waited)
            worker = DeliveryWorker(QUEUES, connection=connection, name=None)
            # RQ's own wait between failed dequeues grows to a minute by default: keep it short, so
            # deliveries resume within seconds of Redis returning.
            worker.max_connection_wait_time = RECONNECT_MAX_SECONDS
            try:
                worker.work(with_scheduler=False, logging_level=app.config["LOG_LEVEL"])
            except (redis.RedisError, OSError) as exc:
                log.warning("RQ worker stopped: Redis failed (%s); reconnecting", exc)
            except Exception:
                log.exception("RQ worker stopped on an unexpected error; starting a new one")
                stopping.wait(RECONNECT_MIN_SECONDS)
            if worker.stop_signalled or stopping.is_set():
                return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ConfigError as exc:
        sys.exit(f"XTRACKER configuration error: {exc}")
