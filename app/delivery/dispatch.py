"""The delivery loop run by workers: claim due rows, send, record, publish (docs/delivery.md).

1. Claim a batch of due deliveries with a lease (any space; SKIP LOCKED lets workers share).
2. Set aside what must not be sent (event older than 7 days for CAPI, event turned off in the
   map) and what waits (CAPI without a click yet, inside the wait window).
3. Send the rest concurrently on a pooled httpx client: one request per webhook/postback
   delivery, one per CAPI pixel for up to 1,000 events (a CAPI event Meta would refuse is set
   aside as dead with the reason; a batch refused permanently is split until its bad rows are
   alone).
4. In one transaction: write each outcome back (only while the lease is still ours), log every
   attempt, and track each destination's failure streak (410 or 5 days of failures pause it).
5. After commit, publish each status change on the space's live feed.
Repeat until nothing is due or the time budget is spent; a full batch wakes another worker so a
backlog is shared.
"""
import logging
import time
import uuid
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from flask import Flask

from app import db, services
from app.delivery import credentials, schedule, store
from app.delivery.kinds import KINDS
from app.delivery.destinations import DeliveryError, Sent
from app.delivery.rows import ClaimedDelivery, Destination, OpenDestination, Runtime
from app.conversion.wake import DELIVERY, wake
from app.lib import clock, ssrf
from app.lib.group_commit import write_isolating
from app.lib.secretbox import SealError
from app.pubsub import feed_channel

log = logging.getLogger(__name__)

FAILING_PAUSE_AFTER = timedelta(days=5)
BUDGET_SECONDS = 60.0
PIPELINE_DEPTH = 2
# A backlog wakes another worker at most this often (each wake-up is a Redis round trip).
SHARE_WAKE_SECONDS = 1.0
RESULT_WRITER = "delivery-results"


def build_http_client(config: dict) -> httpx.Client:
    """A pooled client for destinations (refusing private addresses unless allowed); one per process."""
    limits = httpx.Limits(max_connections=config["DELIVERY_CONCURRENCY"] * 2,
                          max_keepalive_connections=config["DELIVERY_CONCURRENCY"] * 2, keepalive_expiry=30)
    read = config["DELIVERY_READ_TIMEOUT"]
    return httpx.Client(
        transport=ssrf.transport(allow_private=config["ALLOW_PRIVATE_DESTINATIONS"], limits=limits),
        timeout=httpx.Timeout(read, connect=config["DELIVERY_CONNECT_TIMEOUT"], write=read, pool=read),
        follow_redirects=False, trust_env=False)


def http_client(app: Flask) -> httpx.Client:
    """The process's pooled client for destinations."""
    return services.of(app).delivery_http


def destination_host(destination: Destination) -> str:
    """The host a destination calls, for logs: never its full URL (paths and queries carry partners' keys)."""
    config = destination.config or {}
    url = config.get("url") or config.get("url_template")
    if url is None:
        runtime = getattr(destination, "runtime", None)
        return httpx.URL((runtime.graph_base_url if runtime else None) or "https://graph.facebook.com").host
    try:
        return httpx.URL(url.split("{", 1)[0]).host or "?"
    except (httpx.InvalidURL, ValueError):
        return "?"


def batch_limit(app: Flask) -> int:
    """Rows per claim: as many as the concurrency can finish well inside one lease, at most 1,000."""
    config = app.config
    worst = config["DELIVERY_CONNECT_TIMEOUT"] + config["DELIVERY_READ_TIMEOUT"]
    fits = int(config["DELIVERY_CONCURRENCY"] * config["DELIVERY_LEASE_SECONDS"] / (2 * worst))
    return max(config["DELIVERY_CONCURRENCY"], min(fits, 1000))


def run(app: Flask, *, budget_seconds: float = BUDGET_SECONDS) -> int:
    """Deliver due deliveries until none is due or the budget is spent; return how many rows were handled.

    Pipelined: up to PIPELINE_DEPTH claimed batches have their requests queued on the senders
    while the oldest is written back, so the senders never idle on the database.
    """
    started = time.monotonic()
    handled = 0
    limit = batch_limit(app)
    lease = timedelta(seconds=app.config["DELIVERY_LEASE_SECONDS"])
    in_flight: deque[_Batch] = deque()
    next_wake = 0.0
    with ThreadPoolExecutor(max_workers=app.config["DELIVERY_CONCURRENCY"], thread_name_prefix="deliver") as pool:
        while True:
            now = clock.now()
            with db.connection() as conn:
                token, rows = store.claim_due_deliveries(conn, now=now, lease_until=now + lease, limit=limit)
            if rows:
                in_flight.append(_start(app, pool, token, rows, now))
                if len(rows) == limit and time.monotonic() >= next_wake:
                    wake(app, DELIVERY)
                    next_wake = time.monotonic() + SHARE_WAKE_SECONDS
            elif not in_flight:
                break
            # Nothing claimed: finish what is in flight, then look again (a manual retry requested
            # meanwhile may have become due when its row was written back).
            while in_flight and (len(in_flight) > PIPELINE_DEPTH or not rows):
                handled += _finish(app, in_flight.popleft())
            if time.monotonic() - started > budget_seconds:
                while in_flight:
                    handled += _finish(app, in_flight.popleft())
                wake(app, DELIVERY)
                break
    return handled


def runtime(app: Flask) -> Runtime:
    """What destinations' requests take from the app's settings."""
    return Runtime(graph_base_url=app.config["GRAPH_API_BASE_URL"].rstrip("/"), public_url=app.config["PUBLIC_URL"])


def _destinations(app: Flask, rows: list[ClaimedDelivery],
                  now: datetime) -> dict[tuple[int, int], OpenDestination | None]:
    """The claimed rows' destinations with secrets opened (None when a secret no longer opens)."""
    keys = sorted({(r.space_id, r.destination_id) for r in rows})
    with db.connection() as conn:
        found = store.load_destinations(conn, keys)
    shared = runtime(app)
    result: dict[tuple[int, int], OpenDestination | None] = {}
    for d in found:
        try:
            secret = credentials.open_secret(app, d.space_id, d.kind, d.secret) if d.secret else None
            previous = None
            if d.previous_secret and d.previous_secret_expires_at and d.previous_secret_expires_at > now:
                previous = credentials.open_secret(app, d.space_id, d.kind, d.previous_secret)
        except SealError:
            log.error("destination %s of space %s: its secret does not open with this SECRET_KEY", d.id, d.space_id)
            result[(d.space_id, d.id)] = None
            continue
        result[(d.space_id, d.id)] = OpenDestination.of(d, secret=secret, previous_secret=previous, runtime=shared)
    return result


@dataclass
class _Batch:
    """A claimed batch whose requests are queued on the senders."""
    token: uuid.UUID
    rows: list[ClaimedDelivery]
    now: datetime
    results: list[dict]
    deferrals: list[tuple[int, int, datetime]]
    units: list[tuple[OpenDestination, list[ClaimedDelivery]]]
    futures: list[Future]


def _start(app: Flask, pool: ThreadPoolExecutor, token: uuid.UUID, rows: list[ClaimedDelivery],
           now: datetime) -> _Batch:
    """Sort the claimed rows into refusals, waits and requests, and queue the requests."""
    destinations = _destinations(app, rows, now)
    results: list[dict] = []
    deferrals: list[tuple[int, int, datetime]] = []
    units: list[tuple[OpenDestination, list[ClaimedDelivery]]] = []
    batches: dict[tuple[int, int], list[ClaimedDelivery]] = {}
    rows.sort(key=lambda r: r.id)
    for row in rows:
        destination = destinations.get((row.space_id, row.destination_id))
        if destination is None:
            results.append(_refused(row, now, "the destination's secret cannot be decrypted (SECRET_KEY changed?)"))
            continue
        kind = KINDS[destination.kind]
        if row.event not in destination.event_map:
            results.append(_refused(row, now, f"{row.event} is off in the destination's event map"))
            continue
        reason = kind.refuse(row, now)
        if reason:
            results.append(_refused(row, now, reason))
            continue
        if not row.manual:
            due = kind.wait_until(row, now, app.config)
            if due is not None:
                deferrals.append((row.space_id, row.id, due))
                continue
        # Checked once the click is known (it adds fbc, address, agent): an event the destination
        # would refuse is never batched, so it cannot fail its neighbours.
        reason = kind.invalid(destination, row)
        if reason:
            results.append(_refused(row, now, reason))
            continue
        if kind.BATCH_SIZE == 1:
            units.append((destination, [row]))
            continue
        batch = batches.setdefault((row.space_id, row.destination_id), [])
        if len(batch) == kind.BATCH_SIZE:
            units.append((destination, batch))
            batch = batches[(row.space_id, row.destination_id)] = []
        batch.append(row)
    for key, batch in batches.items():
        if batch:
            units.append((destinations[key], batch))
    client = http_client(app)
    futures = [pool.submit(_attempt, client, destination, batch, now) for destination, batch in units]
    return _Batch(token, rows, now, results, deferrals, units, futures)


def _attempt(client: httpx.Client, destination: OpenDestination, batch: list[ClaimedDelivery],
             now: datetime) -> list[tuple[list[ClaimedDelivery], Sent | DeliveryError]]:
    """Send a unit (on a sender thread, outside the app context); return each part's rows and outcome.

    A batch of several rows refused with a permanent error is split in halves, and each half sent
    again, until the rows at fault are alone: a valid row is never dead because of a neighbour
    (at most about 2·log2(n) more requests per bad row). Retryable errors keep the batch whole.
    """
    outcome = _send_once(client, destination, batch, now)
    if len(batch) < 2 or not isinstance(outcome, DeliveryError) or not outcome.permanent:
        return [(batch, outcome)]
    middle = len(batch) // 2
    return (_attempt(client, destination, batch[:middle], now)
            + _attempt(client, destination, batch[middle:], now))


def _send_once(client: httpx.Client, destination: OpenDestination, batch: list[ClaimedDelivery],
               now: datetime) -> Sent | DeliveryError:
    try:
        return KINDS[destination.kind].send(client, destination, batch, now)
    except DeliveryError as exc:
        return exc
    except Exception as exc:  # a bug in building one request must not wedge the batch
        log.exception("delivery to destination %s (host %s) failed unexpectedly", destination.id,
                      destination_host(destination))
        return DeliveryError(f"internal error: {type(exc).__name__}")


def _finish(app: Flask, batch: _Batch) -> int:
    """Wait for the batch's requests, write every outcome back in one transaction, publish the changes."""
    now = batch.now
    results = list(batch.results)
    streaks: dict[tuple[int, int], dict] = {}
    failures: dict[tuple[int, int], tuple[OpenDestination, int, str]] = {}
    for (destination, _), future in zip(batch.units, batch.futures):
        key = (destination.space_id, destination.id)
        streak = streaks.setdefault(key, {"ok": False, "failed": False, "gone": False})
        for rows, outcome in future.result():
            if isinstance(outcome, Sent):
                streak["ok"] = True
            else:
                streak["failed"] = True
                streak["gone"] = streak["gone"] or outcome.gone
                count = failures.get(key, (destination, 0, ""))[1] + len(rows)
                failures[key] = (destination, count, outcome.message)
            for row in rows:
                results.append(_result(row, outcome, now))
    for destination, count, message in failures.values():
        log.warning("destination %s of space %s (%s, host %s): %d attempt(s) failed, last: %s", destination.id,
                    destination.space_id, destination.kind, destination_host(destination), count, message[:200])
    try:
        with db.transaction() as conn:
            written = store.record_results(conn, batch.token, now, results)
            store.defer_deliveries(conn, batch.token, batch.deferrals)
            for (space_id, destination_id), streak in streaks.items():
                _note_streak(conn, space_id, destination_id, streak, now)
    except db.StorageUnavailable:
        raise
    except Exception:
        written = _write_isolating(batch, results, streaks)
    _publish(app, [r for r in results if r["id"] in written and r["status"] != r["previous_status"]], batch.rows)
    return len(batch.rows)


def _write_isolating(batch: _Batch, results: list[dict], streaks: dict[tuple[int, int], dict]) -> set[int]:
    """The results' transaction failed: write them isolating the bad ones, then the deferrals and streaks.

    A result set aside (counted, logged by id) keeps its lease until it expires; the delivery is
    then claimed and sent again with the same stable id (at-least-once), never lost.
    """
    now = batch.now

    def record(part: list[dict]) -> list[bool]:
        with db.transaction() as conn:
            written_part = store.record_results(conn, batch.token, now, part)
        return [r["id"] in written_part for r in part]

    outcomes = write_isolating(RESULT_WRITER, record, results,
                               describe=lambda r: f"space {r['space_id']}, delivery {r['id']}")
    failed = [o for o in outcomes if isinstance(o, BaseException)]
    if failed and isinstance(failed[0], db.StorageUnavailable):
        raise failed[0]
    with db.transaction() as conn:
        store.defer_deliveries(conn, batch.token, batch.deferrals)
        for (space_id, destination_id), streak in streaks.items():
            _note_streak(conn, space_id, destination_id, streak, now)
    return {r["id"] for r, ok in zip(results, outcomes) if ok is True}


def _base(row: ClaimedDelivery, now: datetime) -> dict:
    return {"space_id": row.space_id, "id": row.id, "manual": row.manual, "previous_status": row.status,
            "attempts": row.attempts if row.manual else row.attempts + 1, "started_at": now,
            "auto_next_at": row.auto_next_at, "status_code": None, "duration_ms": 0, "request_excerpt": "",
            "response_excerpt": ""}


def _refused(row: ClaimedDelivery, now: datetime, reason: str) -> dict:
    """A delivery that must not be sent: dead, with the reason logged as its attempt."""
    result = _base(row, now)
    keep = row.status if row.manual and row.status == "delivered" else "dead"
    result.update(status=keep, outcome="dead", next_attempt_at=None, auto_next_at=None, error=reason)
    return result


def _result(row: ClaimedDelivery, outcome: Sent | DeliveryError, now: datetime) -> dict:
    """The row's new state after one attempt (manual attempts never move the automatic schedule)."""
    result = _base(row, now)
    result.update(status_code=outcome.status_code, duration_ms=outcome.duration_ms,
                  request_excerpt=outcome.request_excerpt, response_excerpt=outcome.response_excerpt)
    if isinstance(outcome, Sent):
        result.update(status="delivered", outcome="delivered", next_attempt_at=None, auto_next_at=None, error=None)
        return result
    result["error"] = outcome.message
    if outcome.permanent:
        status = "delivered" if row.status == "delivered" else "dead"
        result.update(status=status, outcome="dead", next_attempt_at=None, auto_next_at=None)
        return result
    result["outcome"] = "failed"
    if row.manual:
        if row.status in ("dead", "delivered"):
            result.update(status=row.status, next_attempt_at=None)
        else:
            result.update(status="failed", next_attempt_at=row.auto_next_at or now)
        return result
    delay = schedule.next_delay(result["attempts"], slow=outcome.slow, retry_after=outcome.retry_after)
    if delay is None:
        result.update(status="dead", outcome="dead", next_attempt_at=None, auto_next_at=None,
                      error=f"{outcome.message}; retry schedule exhausted after {result['attempts']} attempts")
    else:
        result.update(status="failed", next_attempt_at=now + delay, auto_next_at=now + delay)
    return result


def _note_streak(conn, space_id: int, destination_id: int, streak: dict, now: datetime) -> None:
    """Track the destination's unbroken failures; 410 Gone or 5 days of them pause it."""
    state = store.note_destination_outcome(conn, space_id, destination_id, succeeded=streak["ok"], now=now)
    if state is None or streak["ok"] or state["paused_at"] is not None:
        return
    if streak["gone"]:
        store.pause_destination(conn, space_id, destination_id, now=now,
                                reason="the destination answered 410 Gone; resume it once it accepts events again")
    elif state["failing_since"] <= now - FAILING_PAUSE_AFTER:
        store.pause_destination(conn, space_id, destination_id, now=now,
                                reason=f"failing continuously since {state['failing_since']:%Y-%m-%d %H:%M} UTC")


def _publish(app: Flask, changed: list[dict], rows: list[ClaimedDelivery]) -> None:
    """One live-feed message per status change (the publisher pipelines them and is fail-soft)."""
    by_id = {r.id: r for r in rows}
    publisher = services.of(app).publisher
    for r in changed:
        claimed = by_id[r["id"]]
        publisher.publish(feed_channel(r["space_id"]), {
            "type": "delivery", "inbox_id": str(claimed.event_id), "delivery_id": str(r["id"]),
            "destination_id": str(claimed.destination_id), "event": claimed.event, "status": r["status"],
        })
