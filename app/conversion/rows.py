"""The recorded event row: a frozen dataclass built by psycopg's `class_row` from a SELECT written from its fields.

The journey tools (the received log's journey page, `flask telegram journey --json`) read it;
they turn it into what they show at their own edge.
"""
from dataclasses import dataclass, fields
from datetime import datetime
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """One event as stored in the inbox (`events`): its canonical name, who, how much, when and from where."""
    space_id: int
    id: int
    event: str
    uid: str | None
    tg_id: int | None
    eid: str | None
    value: Decimal | None
    currency: str | None
    occurred_at_ms: int
    received_at: datetime
    source: str
    flags: list[str]
    test: bool


EVENT_FIELDS = tuple(f.name for f in fields(RecordedEvent))
