"""Group commit for landings: concurrent clicks of one process share one round trip and one COMMIT.

A landing hands its click (and contact event) to the process's `ClickWriter` and waits until
they are committed, so a uid is never shown before its click is stored. A few writer threads
(greenlets under gunicorn's gevent worker) each take every landing that is waiting, up to a
batch limit, and send the whole batch in pipeline mode: one `create_clicks` for the clicks,
one `record_events` for the contacts, then a single Sync. That is one implicit transaction: a batch
commits whole or not at all, and a WAL flush is shared by the batch instead of paid per click.
"""
import logging
import queue
import threading
from dataclasses import dataclass, field
from datetime import datetime

from psycopg_pool import ConnectionPool

from app import db
from app.ingress import store as ingress_store
from app.ingress.parse import EventIn

log = logging.getLogger(__name__)


@dataclass
class PendingClick:
    """One landing's writes: its click fields and, when the link emits it, its contact event."""
    space_id: int
    uid: str
    created_at: datetime
    fields: dict
    contact: EventIn | None
    done: threading.Event = field(default_factory=threading.Event)
    result: tuple[bool, int] | None = None
    error: BaseException | None = None


class ClickWriter:
    """Records landings for one process in shared batches; `record()` blocks until committed."""

    def __init__(self, pool: ConnectionPool, *, writers: int, batch_max: int):
        self.pool = pool
        self.writers = writers
        self.batch_max = batch_max
        self._queue: queue.SimpleQueue[PendingClick] = queue.SimpleQueue()
        self._started = False
        self._start_lock = threading.Lock()

    def record(self, click: PendingClick) -> tuple[bool, int] | None:
        """Store the click and its contact; return the contact's (is_new, inbox id), None without one."""
        self._ensure_started()
        self._queue.put(click)
        click.done.wait()
        if click.error is not None:
            raise click.error
        return click.result

    def _ensure_started(self) -> None:
        # Threads start on first use, inside the serving process (never before a fork).
        if self._started:
            return
        with self._start_lock:
            if not self._started:
                for n in range(self.writers):
                    threading.Thread(target=self._run, name=f"click-writer-{n}", daemon=True).start()
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

    def _flush(self, batch: list[PendingClick]) -> None:
        try:
            results = self._write(batch)
        except db.StorageUnavailable as exc:
            for click in batch:
                click.error = exc
                click.done.set()
            return
        except Exception:
            if len(batch) == 1:
                log.exception("recording a click failed")
                batch[0].error = RuntimeError("recording the click failed")
                batch[0].done.set()
                return
            # One bad row must not fail its neighbours: record them one by one.
            log.exception("a batch of %d clicks failed; recording them one by one", len(batch))
            for click in batch:
                self._flush([click])
            return
        for click in batch:
            click.result = results.get(id(click))
            click.done.set()

    def _write(self, batch: list[PendingClick]) -> dict[int, tuple[bool, int]]:
        with db.connection(self.pool) as conn, conn.pipeline():
            ingress_store.create_clicks(conn, [
                ingress_store.ClickIn(click.space_id, click.uid, click.created_at, "landing", click.fields)
                for click in batch])
            with_contact = [click for click in batch if click.contact is not None]
            if not with_contact:
                return {}
            outcomes = ingress_store.record_events(conn, [
                ingress_store.InboxItem(click.space_id, click.contact, click.uid, click.created_at, "landing")
                for click in with_contact])
        return {id(click): outcome for click, outcome in zip(with_contact, outcomes)}
