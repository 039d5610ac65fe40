"""Group commit: concurrent callers of one process share one round trip and one COMMIT.

Each caller hands an item to the committer and waits for its outcome, so nothing is
acknowledged before it is durable. A few writer threads (greenlets under gunicorn's gevent
worker) each take every item that is waiting, up to a batch limit, and pass the batch to
`write()`. Under light load a batch is one item and nobody waits longer than alone; under heavy
load batches grow and the per-call cost of a round trip and a WAL flush is shared.
"""
import logging
from abc import ABC, abstractmethod
import queue
import threading
from dataclasses import dataclass, field
from typing import Generic, TypeVar

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


class GroupCommitter(ABC, Generic[Item, Outcome]):
    """Batches `submit()` calls into `write()` calls; subclasses implement `write`."""

    def __init__(self, name: str, *, writers: int, batch_max: int):
        self.name = name
        self.writers = writers
        self.batch_max = batch_max
        self._queue: queue.SimpleQueue[_Pending] = queue.SimpleQueue()
        self._started = False
        self._start_lock = threading.Lock()

    @abstractmethod
    def write(self, items: list[Item]) -> list[Outcome]:
        """Durably write a batch; return one outcome per item, in order."""

    def submit(self, item: Item) -> Outcome:
        """Write one item with whatever else is waiting; return its outcome once committed."""
        self._ensure_started()
        pending = _Pending(item)
        self._queue.put(pending)
        pending.done.wait()
        if pending.error is not None:
            raise pending.error
        return pending.outcome

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
            batch = [self._queue.get()]
            while len(batch) < self.batch_max:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._flush(batch)

    def _flush(self, batch: list[_Pending]) -> None:
        try:
            outcomes = self.write([p.item for p in batch])
        except db.StorageUnavailable as exc:
            for pending in batch:
                pending.error = exc
                pending.done.set()
            return
        except Exception:
            if len(batch) == 1:
                log.exception("%s: writing an item failed", self.name)
                batch[0].error = RuntimeError(f"{self.name}: the write failed")
                batch[0].done.set()
                return
            # One bad item must not fail its neighbours: write them one by one.
            log.exception("%s: a batch of %d failed; writing them one by one", self.name, len(batch))
            for pending in batch:
                self._flush([pending])
            return
        for pending, outcome in zip(batch, outcomes):
            pending.outcome = outcome
            pending.done.set()
