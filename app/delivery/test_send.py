"""Sending one synthetic test event to a destination, now, and showing exactly what went over the wire.

1. Load the destination with its sealed secrets (scoped to the space) and open them as the
   worker does.
2. Build a delivery for a made-up event: uid, eid and stable id `xt-test-<random>`, source
   `test`, flag `test`, occurred now, no click.
3. Send it with the destination kind's own `send` on the worker's HTTP client (same request
   building, signing, address guard, timeouts, no redirects), through a recorder that keeps the
   request and the response.
4. Return the request and the response (or the network error) with every secret redacted.

Nothing is written: no delivery, no attempt, no failure streak, no live-feed message, so a test
never shows in the delivery matrix or pauses a destination.
"""
import json
import logging
import secrets
import time
from dataclasses import dataclass, field
from decimal import Decimal

import httpx
from flask import Flask

from app import db
from app.delivery import credentials, store
from app.delivery.kinds import KINDS
from app.delivery.destinations import DeliveryError, DestinationError, Sent, excerpt
from app.delivery.dispatch import http_client, runtime
from app.delivery.rows import ClaimedDelivery, OpenDestination
from app.lib import clock
from app.lib.secretbox import SealError
from app.space.store import NotFound

log = logging.getLogger(__name__)

REDACTED = "[redacted]"
TEST_PREFIX = "xt-test-"
TEST_SOURCE = "test"
TEST_VALUE = Decimal("1.00")
# The request body is shown up to this size (a test event's body is far smaller).
SHOWN_BODY_BYTES = 16384


@dataclass
class SendReport:
    """What a test send did: the request as sent and the response or the error."""
    event: str
    event_name: str
    test_id: str
    method: str | None = None
    url: str | None = None
    request_headers: list[tuple[str, str]] = field(default_factory=list)
    request_body: str = ""
    status_code: int | None = None
    response_headers: list[tuple[str, str]] = field(default_factory=list)
    response_body: str = ""
    duration_ms: int = 0
    accepted: bool = False
    error: str | None = None
    permanent: bool = False


class _Recorder:
    """Stands in for the worker's httpx client: builds and sends each request on it, keeping both sides."""

    def __init__(self, client: httpx.Client):
        self.client = client
        self.sent: httpx.Request | None = None
        self.received: httpx.Response | None = None

    def request(self, method: str, url: str, *, headers: dict | None = None, content: bytes | None = None):
        built = self.client.build_request(method, url, headers=headers, content=content)
        self.sent = built
        self.received = self.client.send(built)
        return self.received


def _delivery(space_slug: str, destination: OpenDestination, event: str, test_id: str, now) -> ClaimedDelivery:
    """A delivery row of the worker's claim's type, for a made-up event marked as a test."""
    return ClaimedDelivery(
        space_id=destination.space_id, id=0, event_id=0, destination_id=destination.id,
        event=event, status="pending", attempts=0, manual=True, auto_next_at=None,
        space_slug=space_slug, stable_id=test_id, uid=test_id, tg_id=None, eid=test_id,
        value=TEST_VALUE if event == "deposit" else None, currency="USD",
        occurred_at_ms=clock.to_ms(now), received_at=now, source=TEST_SOURCE, flags=["test"],
        test=True,
        clicked_at=None, link_slug=None, link_kind=None, fbclid=None, fbc=None, fbp=None,
        campaign_name=None, utm_source=None, utm_medium=None, utm_campaign=None, utm_content=None,
        utm_term=None, client_ip=None, user_agent=None, country=None,
    )


def _redactor(hidden: list[str]):
    """A function that replaces every secret (raw and JSON-escaped) in a text."""
    forms = sorted({form for secret in hidden if secret
                    for form in (secret, json.dumps(secret)[1:-1])}, key=len, reverse=True)

    def redact(text: str) -> str:
        for form in forms:
            text = text.replace(form, REDACTED)
        return text
    return redact


def _text(content: bytes, limit: int) -> str:
    return content[:limit].decode("utf-8", "replace") + ("\n… (cut)" if len(content) > limit else "")


def send_test_event(app: Flask, space_id: int, space_slug: str, destination_id: int, event: str) -> SendReport:
    """Send a synthetic `event` to the space's destination now; NotFound when it is not the space's.

    DestinationError (field `event`) when the event is off in the destination's event map.
    """
    with db.connection() as conn:
        found = store.load_destinations(conn, [(space_id, destination_id)])
    if not found:
        raise NotFound(f"no destination {destination_id} in this space")
    row = found[0]
    if event not in row.event_map:
        raise DestinationError(f"{event} is off in this destination's event map; map it to send a test",
                               field="event")
    now = clock.now()
    test_id = TEST_PREFIX + secrets.token_hex(8)
    result = SendReport(event=event, event_name=row.event_map[event], test_id=test_id)
    try:
        secret = credentials.open_secret(app, space_id, row.kind, row.secret) if row.secret else None
        previous = None
        if row.previous_secret and row.previous_secret_expires_at and row.previous_secret_expires_at > now:
            previous = credentials.open_secret(app, space_id, row.kind, row.previous_secret)
    except SealError:
        result.error = "the destination's secret cannot be decrypted (SECRET_KEY changed?); create it again"
        result.permanent = True
        return result
    destination = OpenDestination.of(row, secret=secret, previous_secret=previous, runtime=runtime(app))
    recorder = _Recorder(http_client(app))
    started = time.perf_counter()
    try:
        outcome: Sent | DeliveryError = KINDS[row.kind].send(
            recorder, destination, [_delivery(space_slug, destination, event, test_id, now)], now)
    except DeliveryError as exc:
        outcome = exc
    except Exception as exc:  # as in the worker: a bug in building one request is an outcome, not a crash
        log.exception("test send to destination %s failed unexpectedly", destination_id)
        outcome = DeliveryError(f"internal error: {type(exc).__name__}")
    result.duration_ms = outcome.duration_ms or int((time.perf_counter() - started) * 1000)
    _describe(result, recorder, outcome, _redactor([secret, previous]))
    return result


def _describe(result: SendReport, recorder: _Recorder, outcome: Sent | DeliveryError, redact) -> None:
    """Fill in the request, the response and the verdict, secrets redacted."""
    sent, received = recorder.sent, recorder.received
    if sent is not None:
        result.method = sent.method
        result.url = redact(str(sent.url))
        result.request_headers = [(k, redact(v)) for k, v in sent.headers.items()]
        result.request_body = redact(_text(sent.content, SHOWN_BODY_BYTES))
    if received is not None:
        result.status_code = received.status_code
        result.response_headers = [(k, redact(v)) for k, v in received.headers.items()]
        result.response_body = redact(excerpt(received.content))
    if isinstance(outcome, Sent):
        result.accepted = True
    else:
        result.error = redact(outcome.message)
        result.permanent = outcome.permanent
