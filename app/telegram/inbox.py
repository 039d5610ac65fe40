"""Group commit for the webhook: concurrent updates of one process share one INSERT and one COMMIT.

The webhook answers only after its update is committed (app/lib/group_commit.py), so a 200 to
Telegram always means the update is in the durable queue; the primary key (space, bot,
update_id) decides new versus re-delivered.
"""
import json
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg_pool import ConnectionPool

from app import db
from app.lib.group_commit import GroupCommitter

_INSERT = """
INSERT INTO telegram_updates (space_id, bot_id, update_id, kind, body, received_at)
SELECT space_id, bot_id, update_id, kind, body::jsonb, received_at
FROM jsonb_to_recordset(%(batch)s::jsonb) AS t(space_id bigint, bot_id bigint, update_id bigint, kind text,
                                                body text, received_at timestamptz)
ORDER BY space_id, bot_id, update_id
ON CONFLICT (space_id, bot_id, update_id) DO NOTHING
RETURNING space_id, bot_id, update_id
"""


class BadUpdateBody(ValueError):
    """The update's JSON cannot be stored (PostgreSQL refuses a \\u0000 escape in jsonb)."""


@dataclass
class PendingUpdate:
    """One update to queue: its bot (space and bot id), update_id, kind, raw JSON and arrival time."""
    space_id: int
    bot_id: int
    update_id: int
    kind: str
    body: str
    received_at: datetime


class UpdateWriter(GroupCommitter[PendingUpdate, "bool | BadUpdateBody"]):
    """Queues updates for one process in shared batches; `submit()` is True when new, False when re-delivered."""

    def __init__(self, pool: ConnectionPool, *, writers: int = 2, batch_max: int = 256):
        super().__init__("telegram-update-writer", writers=writers, batch_max=batch_max)
        self.pool = pool

    def write(self, items: list[PendingUpdate]) -> list["bool | BadUpdateBody"]:
        """Insert the batch in one statement; a body PostgreSQL refuses is set aside and the rest written alone."""
        try:
            return self._insert(items)
        except psycopg.DataError:
            if len(items) == 1:
                return [BadUpdateBody("the update holds characters that cannot be stored")]
            return [self.write([item])[0] for item in items]

    def _insert(self, items: list[PendingUpdate]) -> list[bool]:
        batch = json.dumps([{"space_id": i.space_id, "bot_id": i.bot_id, "update_id": i.update_id, "kind": i.kind,
                             "body": i.body, "received_at": i.received_at.isoformat()} for i in items])
        with db.connection(self.pool) as conn:
            inserted = {(r["space_id"], r["bot_id"], r["update_id"]) for r in conn.execute(_INSERT, {"batch": batch})}
        outcomes = []
        for item in items:
            key = (item.space_id, item.bot_id, item.update_id)
            outcomes.append(key in inserted)
            inserted.discard(key)  # the same update twice in one batch: the second is a re-delivery
        return outcomes
