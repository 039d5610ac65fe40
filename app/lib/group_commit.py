"""Group commit: concurrent callers of one process share one round trip and one COMMIT.

Each caller hands an item to the committer and waits for its outcome, so nothing is
acknowledged before it is durable. A few writer threads (greenlets under gunicorn's gevent
worker) each take every item that is waiting, up to a batch limit, and pass the batch to
`write()`. Under light load a batch is one item and nobody waits longer than alone; under heavy
load batches grow and the per-call cost of a round trip and a WAL flush is shared.

A shared batch isolates a bad row (`write_isolating`, also used by the received log and the
delivery results): when a batch fails for any reason but an unreachable database, it is split in
halves and each half written again, down to the single rows that fail. Those are set aside —
counted per writer (`set_aside_counts()`; each log line carries the running count) and logged
without their content — and their callers get `RowRefused`; every other row commits, whichever
request or space it came from. That is only safe for a `write` that is all-or-nothing (one statement, or one
transaction), which is what every writer here is: a failed batch left nothing behind, so writing
its halves again cannot write a row twice.
"""
import logging
from abc import ABC, abstractmethod
import queue
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Generic, Sequence, TypeVar

import psycopg

from app import db

log = logging.getLogger(__name__)

Item = TypeVar("Item")
Outcome = TypeVar("Outcome")


@dataclass
class _Pending(Generic[Item, Outcome]):
    item: Item
    done: threading.Event = field(default_factory=threading.Event)
    outcome: Outcome | None = None
    error: BaseException | None = None


# Errors that mean "this row's data cannot be stored" (the sender's input), not a bug of ours.
_DATA_ERRORS = (psycopg.DataError, psycopg.IntegrityError, UnicodeError, ValueError, OverflowError)
_set_aside: Counter = Counter()
_set_aside_lock = threading.Lock()


class RowRefused(Exception):
    """One row of a shared batch could not be written; the others were.

    `reason` is safe to show to the row's sender; `client_fault` is True when the row's own data
    was refused (answer 400), False when writing it hit an unexpected error (answer 500).
    """

    def __init__(self, writer: str, reason: str, *, client_fault: bool):
        super().__init__(reason)
        self.writer = writer
        self.reason = reason
        self.client_fault = client_fault


def set_aside_counts() -> dict[str, int]:
    """Rows set aside by each writer of this process since it started ({writer name: count})."""
    with _set_aside_lock:
        return dict(_set_aside)


def set_aside(writer: str, exc: BaseException, what: str = "") -> RowRefused:
    """Count and log (without the row's content) one row that cannot be written; return its RowRefused."""
    with _set_aside_lock:
        _set_aside[writer] += 1
        total = _set_aside[writer]
    client_fault = isinstance(exc, _DATA_ERRORS)
    detail = (str(exc).splitlines() or [""])[0][:200]
    if client_fault:
        log.warning("%s: one row set aside, its neighbours written (%s%s: %s); %d set aside in this process",
                    writer, f"{what}, " if what else "", type(exc).__name__, detail, total)
    else:
        log.error("%s: one row set aside, its neighbours written (%s%s); %d set aside in this process",
                  writer, f"{what}, " if what else "", type(exc).__name__, total, exc_info=exc)
    reason = ("it could not be stored: the database refused its data" if client_fault
              else "it could not be stored (internal error; it has been logged)")
    return RowRefused(writer, reason, client_fault=client_fault)


def write_isolating(writer: str, write: Callable[[list[Item]], Sequence[Outcome]], items: list[Item], *,
                    describe: Callable[[Item], str] | None = None) -> list[Any]:
    """Write `items` with the all-or-nothing `write`; one entry per item: its outcome, or RowRefused /
    StorageUnavailable for it.

    1. Write the whole batch (the common case: one round trip).
    2. StorageUnavailable: every item gets it (nothing was written; callers answer 503).
    3. Any other failure: a single item is set aside (RowRefused); a larger batch is split in
       halves, each written the same way, so k bad rows among n cost about 2·k·log2(n) writes
       and every good row commits.
    """
    if not items:
        return []
    try:
        outcomes = list(write(items))
    except db.StorageUnavailable as exc:
        return [exc] * len(items)
    except Exception as exc:
        if len(items) == 1:
            return [set_aside(writer, exc, describe(items[0]) if describe else "")]
        middle = len(items) // 2
        return (write_isolating(writer, write, items[:middle], describe=describe)
                + write_isolating(writer, write, items[middle:], describe=describe))
    if len(outcomes) != len(items):
        raise AssertionError(f"{writer}: write returned {len(outcomes)} outcomes for {len(items)} items")
    return outcomes


class GroupCommitter(ABC, Generic[Item, Outcome]):
    """Batches `submit()` calls into `write()` calls; subclasses implement `write`."""

    def __init__(self, name: str, *, writers: int, batch_max: int):
        self.name = name
        self.writers = writers
        self.batch_max = batch_max
        self._queue: queue.SimpleQueue[list[_Pending]] = queue.SimpleQueue()
        self._started = False
        self._start_lock = threading.Lock()

    @abstractmethod
    def write(self, items: list[Item]) -> list[Outcome]:
        """Durably write a batch, all or nothing; return one outcome per item, in order."""

    def describe(self, item: Item) -> str:
        """What the log may say about an item that is set aside: ids, never its content."""
        return ""

    def submit(self, item: Item) -> Outcome:
        """Write one item with whatever else is waiting; return its outcome once committed.

        Raises RowRefused when this item cannot be written (its neighbours are), and
        db.StorageUnavailable when the database cannot be reached.
        """
        (pending,) = self._enqueue([item])
        if pending.error is not None:
            raise pending.error
        return pending.outcome

    def submit_all(self, items: list[Item]) -> list[Any]:
        """Write `items` in the same batches (up to batch_max each); in order, each outcome or its
        RowRefused / StorageUnavailable."""
        return [one.error if one.error is not None else one.outcome for one in self._enqueue(items)]

    def _enqueue(self, items: list[Item]) -> list[_Pending]:
        self._ensure_started()
        pending = [_Pending(item) for item in items]
        for start in range(0, len(pending), self.batch_max):
            self._queue.put(pending[start:start + self.batch_max])
        for one in pending:
            one.done.wait()
        return pending

    def _ensure_started(self) -> None:
        # Threads start on first use, inside the serving process (never before a fork).
        if self._started:
            return
        with self._start_lock:
            if not self._started:
                for n in range(self.writers):
                    threading.Thread(target=self._run, name=f"{self.name}-{n}", daemon=True).start()
                self._started = True

    def _run(self) -> None:
        while True:
            batch = list(self._queue.get())
            while len(batch) < self.batch_max:
                try:
                    batch.extend(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._flush(batch)

    def _flush(self, batch: list[_Pending]) -> None:
        try:
            results = write_isolating(self.name, self.write, [p.item for p in batch], describe=self.describe)
        except Exception:  # never leave a caller waiting
            log.exception("%s: writing a batch failed", self.name)
            results = [RowRefused(self.name, "it could not be stored (internal error; it has been logged)",
                                  client_fault=False) for _ in batch]
        for pending, result in zip(batch, results):
            # Only the isolation's own failures are errors: a writer may return exceptions as outcomes.
            if isinstance(result, (RowRefused, db.StorageUnavailable)):
                pending.error = result
            else:
                pending.outcome = result
            pending.done.set()
