"""A bounded queue drained by one background thread, started on first use.

The feed publisher and the received log hand work to it so a request never waits for Redis or
Postgres. The thread starts inside the serving process on the first `offer()` (never before
gunicorn forks); subclasses implement `_run()`, taking items from `self._queue` and calling
`task_done()` for each.
"""
import queue
from abc import ABC, abstractmethod
import threading
import time


class BackgroundQueue(ABC):
    """Items offered without blocking, consumed by `_run()` in a daemon thread named `thread_name`."""

    thread_name = "background"

    def __init__(self, maxsize: int):
        self._queue: queue.Queue = queue.Queue(maxsize)
        self._started = False
        self._start_lock = threading.Lock()

    def offer(self, item) -> bool:
        """Queue `item`; False when the queue is full (the item is dropped)."""
        self._ensure_started()
        try:
            self._queue.put_nowait(item)
            return True
        except queue.Full:
            return False

    def flush(self, timeout: float = 5.0) -> None:
        """Wait until every queued item was handled or dropped (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.005)

    def _ensure_started(self) -> None:
        if self._started:
            return
        with self._start_lock:
            if not self._started:
                threading.Thread(target=self._run, name=self.thread_name, daemon=True).start()
                self._started = True

    @abstractmethod
    def _run(self) -> None:
        """Consume `self._queue` forever (the daemon thread's body)."""
