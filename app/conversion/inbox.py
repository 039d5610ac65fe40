"""Group commit for the inbox: concurrent requests of one process share one INSERT and one COMMIT.

The response still says `queued` only after the event's statement committed
(app/lib/group_commit.py); one `store.record_events` statement records the whole batch, so a
batch is all or nothing and a row the database refuses is isolated by the committer: its
request gets RowRefused, its neighbours are recorded.
"""
import psycopg
from psycopg_pool import ConnectionPool

from app import db
from app.conversion import store
from app.lib.group_commit import GroupCommitter

_RETRYABLE = (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure)


class InboxWriter(GroupCommitter[store.InboxItem, tuple[bool, int]]):
    """Records events for one process in shared batches; `submit()` returns (is_new, inbox id)."""

    def __init__(self, pool: ConnectionPool, *, writers: int, batch_max: int):
        super().__init__("inbox-writer", writers=writers, batch_max=batch_max)
        self.pool = pool

    def describe(self, item: store.InboxItem) -> str:
        """Space, event and source of an event that is set aside (never its values)."""
        return f"space {item.space_id}, {item.event.event} via {item.source}"

    def write(self, items: list[store.InboxItem]) -> list[tuple[bool, int]]:
        """Record the batch in one statement (retried on a deadlock or serialization failure)."""
        for attempt in range(3):
            try:
                # One statement in autocommit is one atomic transaction and one round trip.
                with db.connection(self.pool) as conn:
                    return store.record_events(conn, items)
            except _RETRYABLE:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")
