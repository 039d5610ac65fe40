"""The rows the delivery package hands out: a destination and a claimed delivery, each a frozen dataclass.

Each is built by psycopg's `class_row` from a SELECT whose column list is written from the
dataclass's own fields (`columns()`), so a column added to one and not the other fails at once
(tests/delivery/test_rows.py). Where a row leaves the process (CLI --json, HTTP JSON) it is
turned into a dict explicitly at that edge (`configure.public`).
"""
from dataclasses import dataclass, fields
from datetime import datetime
from decimal import Decimal
from ipaddress import IPv4Address, IPv6Address
from typing import Any


def field_names(cls: type) -> tuple[str, ...]:
    """The dataclass's field names, in order: the columns its SELECT must return."""
    return tuple(f.name for f in fields(cls))


@dataclass(frozen=True, slots=True)
class Destination:
    """A destination as operators see it: settings and the secret's hint, never a secret."""
    space_id: int
    id: int
    kind: str
    name: str
    config: dict
    secret_hint: str | None
    event_map: dict
    created_at: datetime
    paused_at: datetime | None
    paused_reason: str | None
    failing_since: datetime | None
    accept_test: bool
    deleted_at: datetime | None


@dataclass(frozen=True, slots=True)
class SealedDestination(Destination):
    """A destination with its secrets as stored (sealed), for the worker and the test send only."""
    secret: bytes | None
    previous_secret: bytes | None
    previous_secret_expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class Runtime:
    """What a destination's requests take from the app: Meta's Graph API base and the public URL."""
    graph_base_url: str
    public_url: str


@dataclass(frozen=True, slots=True)
class OpenDestination(Destination):
    """A destination ready to send: its secrets opened (never logged, never shown) and the app's runtime."""
    secret: str | None
    previous_secret: str | None
    runtime: Runtime

    @classmethod
    def of(cls, destination: Destination, *, secret: str | None, previous_secret: str | None,
           runtime: Runtime) -> "OpenDestination":
        """The destination's public fields with the opened secrets and the runtime."""
        public = {name: getattr(destination, name) for name in DESTINATION_FIELDS}
        return cls(**public, secret=secret, previous_secret=previous_secret, runtime=runtime)


DESTINATION_FIELDS = field_names(Destination)


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    """A leased delivery with everything its request needs: the event, the journey's click, the space.

    `stable_id` (xt-<event id>-<destination id>) is the same on every attempt, so receivers dedup
    our retries. The click fields are None when the journey has no click (yet).
    """
    space_id: int
    id: int
    event_id: int
    destination_id: int
    event: str
    status: str
    attempts: int
    manual: bool
    auto_next_at: datetime | None
    stable_id: str
    space_slug: str
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
    clicked_at: datetime | None
    link_slug: str | None
    link_kind: str | None
    fbclid: str | None
    fbc: str | None
    fbp: str | None
    campaign_name: str | None
    utm_source: str | None
    utm_medium: str | None
    utm_campaign: str | None
    utm_content: str | None
    utm_term: str | None
    client_ip: IPv4Address | IPv6Address | Any | None
    user_agent: str | None
    country: str | None
