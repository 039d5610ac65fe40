"""The link row: a frozen dataclass built by psycopg's `class_row` from a SELECT written from its fields.

The landing caches it per process (LINK_CACHE_SECONDS); the setup screens, the link CLI and the
ingest API's click back-fill read it. JSON output turns it into a dict at that edge (app/link/cli.py).
"""
from dataclasses import dataclass, fields
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Link:
    """A trackable entry point of a space: its landing /<slug> sends the visitor to `target`."""
    space_id: int
    id: int
    slug: str
    name: str
    kind: str
    target: str
    mode: str
    emit_contact: bool
    campaign_defaults: dict
    created_at: datetime
    updated_at: datetime
    archived_at: datetime | None


LINK_FIELDS = tuple(f.name for f in fields(Link))
