"""Group commit for the inbox: concurrent requests of one process share one INSERT and one COMMIT.

Each request hands its validated event to the process's `InboxWriter` and waits for the
outcome; the response still says `queued` only after the event's transaction committed. A few
writer threads (greenlets under gunicorn's gevent worker) each take every event that is
waiting, up to a batch limit, and record them with one statement (`store.record_events`). Under
light load a batch is a single event and nothing waits longer than it would alone; under heavy
load batches grow, and the per-request cost of a round trip and a WAL flush is shared.
"""
import logging
import queue
import threading
from dataclasses import dataclass, field

import psycopg
from psycopg_pool import ConnectionPool

from app import db
from app.ingress import store

log = logging.getLogger(__name__)

_RETRYABLE = (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure)


@dataclass
class _Pending:
    item: store.InboxItem
    done: threading.Event = field(default_factory=threading.Event)
    result: tuple[bool, int] | None = None
    error: BaseException | None = None


class InboxWriter:
    """Records events for one process in shared batches; `record()` blocks until committed."""

    def __init__(self, pool: ConnectionPool, *, writers: int, batch_max: int):
        self.pool = pool
        self.writers = writers
        self.batch_max = batch_max
        self._queue: queue.SimpleQueue[_Pending] = queue.SimpleQueue()
        self._started = False
        self._start_lock = threading.Lock()

    def record(self, item: store.InboxItem) -> tuple[bool, int]:
        """Record one event; return (is_new, inbox id) once its batch has committed."""
        self._ensure_started()
        pending = _Pending(item)
        self._queue.put(pending)
        pending.done.wait()
        if pending.error is not None:
            raise pending.error
        return pending.result

    def _ensure_started(self) -> None:
        # Threads start on first use, inside the serving process (never before a fork).
        if self._started:
            return
        with self._start_lock:
            if not self._started:
                for n in range(self.writers):
                    threading.Thread(target=self._run, name=f"inbox-writer-{n}", daemon=True).start()
                self._started = True

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < self.batch_max:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._flush(batch)

    def _flush(self, batch: list[_Pending]) -> None:
        try:
            results = self._write([p.item for p in batch])
        except db.StorageUnavailable as exc:
            for pending in batch:
                pending.error = exc
                pending.done.set()
            return
        except Exception:
            if len(batch) == 1:
                log.exception("recording an event failed")
                batch[0].error = RuntimeError("recording the event failed")
                batch[0].done.set()
                return
            # One bad row must not fail its neighbours: record them one by one.
            log.exception("a batch of %d events failed; recording them one by one", len(batch))
            for pending in batch:
                self._flush([pending])
            return
        for pending, result in zip(batch, results):
            pending.result = result
            pending.done.set()

    def _write(self, items: list[store.InboxItem]) -> list[tuple[bool, int]]:
        for attempt in range(3):
            try:
                # One statement in autocommit is one atomic transaction and one round trip.
                with db.connection(self.pool) as conn:
                    return store.record_events(conn, items)
            except _RETRYABLE:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")
