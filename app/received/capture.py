"""Capture of ingress requests for the received log, off the request path.

The ingress blueprint's after-request hook takes what it needs from the request and answer
(a handful of references, no parsing) and queues it; a background writer parses, redacts and
finds warnings, stores whole batches with one statement, then publishes each stored row on its
space's received channel when someone listens to that space. The buffer is bounded: when it is
full, log rows are dropped and counted (events are never affected), and nothing here can fail
a request. A row that cannot be prepared or stored is set aside alone — counted and logged by
app/lib/group_commit.py's `write_isolating` — and the rest of its batch, from any space, is stored.
"""
import json
import logging
import queue
import time
from dataclasses import dataclass
from datetime import datetime

import redis
from flask import Flask, Response, current_app, g, request

from app import db, services
from app.pubsub import listening_key, received_channel
from app.lib import clock, group_commit
from app.lib.background import BackgroundQueue
from app.received import redact, store, warnings

log = logging.getLogger(__name__)

# LISTENING_KEY (app/pubsub.py) is set, with this TTL refreshed while open, by each listen-mode
# stream: rows of spaces nobody listens to are not published, so ingest does not pay for a
# message every hub would decode and drop.
LISTENING_TTL_SECONDS = 30
# How long the writer trusts what it read of LISTENING_KEY. A new stream waits that long plus the
# time a batch takes to commit before reading its opening rows, so no row falls between those
# rows and the first pushed one.
LISTENING_CACHE_SECONDS = 0.5
LISTENING_SETTLE_SECONDS = LISTENING_CACHE_SECONDS + 0.25
WRITER = "received-log"
BATCH_MAX = 500
# How long the writer lets a batch gather after its first row.
BATCH_WAIT_SECONDS = 0.1
# Rows prepared between two yields to the requests sharing the worker (gevent).
YIELD_EVERY = 50
DROP_LOG_SECONDS = 60.0
# A 200 whose answer names no status: what the endpoint did.
OK_STATUS = {"/bind": "bound", "/clicks": "created"}
# The answer's error text is kept whole up to this length (ingress reasons are far shorter).
ERROR_CHARS = 2000


@dataclass
class Captured:
    """What the hook keeps of one request: raw, unparsed, so the request pays almost nothing."""
    space_id: int
    received_at: datetime
    method: str
    path: str
    query: dict
    body: bytes | None
    http_status: int
    answer: bytes


class ReceivedLog(BackgroundQueue):
    """A process's bounded buffer of captured requests and the thread that writes them."""

    thread_name = "received-log"

    def __init__(self, app: Flask, *, buffer: int):
        super().__init__(buffer)
        self.app = app
        self.dropped = 0
        self._dropped_logged = 0
        self._drop_logged_at = 0.0
        self._listening: dict[int, tuple[float, bool]] = {}

    def record(self, item: Captured) -> None:
        """Queue one request for the log; count it as dropped when the buffer is full."""
        if not self.offer(item):
            self.dropped += 1

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            # Let a batch gather: one statement per handful of requests would cost more than the
            # rows themselves, and the log is read by people (listen mode tolerates a blink).
            time.sleep(BATCH_WAIT_SECONDS)
            while len(batch) < BATCH_MAX:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            try:
                with self.app.app_context():
                    self.write(batch)
            except db.StorageUnavailable as exc:
                self.dropped += len(batch)
                log.warning("received log: %d rows dropped, storage unavailable: %s", len(batch), exc)
            except Exception:
                self.dropped += len(batch)
                log.exception("received log: writing %d rows failed", len(batch))
            finally:
                for _ in batch:
                    self._queue.task_done()
            self._report_drops()

    def write(self, batch: list[Captured]) -> list[dict]:
        """Store a batch, then publish the rows of listened spaces (app context required); return those rows.

        One statement per batch; a row that cannot be prepared or stored is set aside (counted,
        logged without its content) and the others are stored. StorageUnavailable when the
        database cannot be reached at all.
        """
        time_warn_ms = self.app.config["RECEIVED_TIME_WARN_MINUTES"] * 60_000
        rows = []
        for n, item in enumerate(batch, 1):
            try:
                rows.append(prepare(item, time_warn_ms))
            except Exception as exc:
                self.dropped += 1
                group_commit.set_aside(WRITER, exc, f"space {item.space_id}, {item.method} {item.path}")
            if n % YIELD_EVERY == 0:
                # Under gevent this thread shares the worker with requests: let them run.
                time.sleep(0)
        listened = self._listened_spaces({item.space_id for item in batch})
        stored: list[dict] = []

        def record(part: list[dict]) -> list[bool]:
            with db.connection() as conn:
                stored.extend(store.record_requests(conn, part, returning=listened))
            return [True] * len(part)

        results = group_commit.write_isolating(
            WRITER, record, rows, describe=lambda row: f"space {row['space_id']}, {row['endpoint']}")
        failed = [r for r in results if isinstance(r, BaseException)]
        self.dropped += len(failed)
        if failed and len(failed) == len(rows) and isinstance(failed[0], db.StorageUnavailable):
            self.dropped -= len(failed)
            raise failed[0]
        publisher = services.of(self.app).publisher
        for row in sorted(stored, key=lambda r: r["id"]):
            publisher.publish(received_channel(row["space_id"]), {"type": "received", **row})
        return stored

    def _listened_spaces(self, space_ids: set[int]) -> set[int]:
        """The spaces among `space_ids` with an open listen-mode stream (one MGET at most per batch)."""
        now = time.monotonic()
        if len(self._listening) > 10_000:
            self._listening.clear()
        stale = [s for s in space_ids if self._listening.get(s, (0.0, False))[0] <= now]
        if stale:
            try:
                values = services.of(self.app).redis.mget([listening_key(s) for s in stale])
            except redis.RedisError:
                values = [None] * len(stale)
            for space_id, value in zip(stale, values):
                self._listening[space_id] = (now + LISTENING_CACHE_SECONDS, value is not None)
        return {s for s in space_ids if self._listening[s][1]}

    def _report_drops(self) -> None:
        if self.dropped != self._dropped_logged and time.monotonic() - self._drop_logged_at > DROP_LOG_SECONDS:
            log.warning("received log: %d rows dropped in this process so far (buffer full or storage down);"
                        " no event was affected", self.dropped)
            self._dropped_logged = self.dropped
            self._drop_logged_at = time.monotonic()


def prepare(item: Captured, time_warn_ms: int) -> dict:
    """The row to store for a captured request: redacted parameters, outcome, warnings."""
    endpoint = f"{item.method} {item.path}"
    if item.method == "GET":
        params, excerpt = redact.redact_params(item.query), None
    else:
        params, excerpt = redact.redact_body(item.body or b"")
        if item.body is None and item.http_status == 413:
            excerpt = "(body larger than the size limit; not read)"
    try:
        answer = json.loads(item.answer.decode("utf-8", "replace")) if item.answer else {}
    except ValueError:
        answer = {}
    if not isinstance(answer, dict):
        answer = {}
    status = answer.get("status") or (OK_STATUS.get(item.path, "ok") if item.http_status == 200 else "error")
    uid = answer.get("uid") if isinstance(answer.get("uid"), str) else None
    checked = warnings.uid_to_check(endpoint, params)
    inbox_id = answer.get("inbox_id")
    found = warnings.detect(endpoint, params, clock.to_ms(item.received_at), time_warn_ms, status=str(status))
    error = answer.get("error") if item.http_status != 200 else None
    if error is None and item.http_status >= 400:
        error = f"HTTP {item.http_status}"
    return {
        "space_id": item.space_id, "received_at": item.received_at.isoformat(), "endpoint": endpoint,
        "params": params, "body_excerpt": excerpt, "status": str(status)[:64], "http_status": item.http_status,
        "inbox_id": int(inbox_id) if isinstance(inbox_id, str) and inbox_id.isdigit() else None,
        "uid": uid or checked, "check_uid": checked, "warnings": ",".join(found),
        "error": redact.redact_text(str(error), ERROR_CHARS) if error is not None else None,
    }


def received_log(app: Flask) -> ReceivedLog:
    """The process's received log writer."""
    return services.of(app).received_log


def install(app: Flask, blueprint: str) -> None:
    """Log every answered request of `blueprint` (the ingress API) once its other hooks have run.

    Installed by the app factory, so the API never imports the log that reads it; app-level
    after-request hooks run last-registered first, so install this one last.
    """
    def capture_blueprint(response: Response) -> Response:
        return capture_response(response) if request.blueprint == blueprint else response
    app.after_request(capture_blueprint)


def capture_response(response: Response) -> Response:
    """After-request hook of the ingress API: queue the request for the log when its space is known.

    401s name no space and are not logged. Never raises: the log must not fail a request.
    """
    space_id = g.get("space_id")
    if space_id is None:
        return response
    try:
        app = current_app._get_current_object()
        received_log(app).record(Captured(
            space_id=space_id, received_at=clock.now(), method=request.method, path=request.path,
            query=request.args.to_dict() if request.method == "GET" else {},
            body=g.get("received_body"), http_status=response.status_code,
            answer=b"" if response.is_streamed else response.get_data()))
    except Exception:
        log.exception("received log: capturing %s %s failed", request.method, request.path)
    return response
