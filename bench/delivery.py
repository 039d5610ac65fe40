"""Delivery benchmark: drain a queue of webhook deliveries, beside a bare httpx sender (the ceiling).

Usage: .venv-test/bin/python bench/delivery.py [--count 100000] [--workers 2] [--rounds 4]

1. Starts a private PostgreSQL (durable settings, as in production) and Redis in a temp dir,
   migrates, and creates a space and a webhook destination through the CLI.
2. Starts a local webhook sink (a small asyncio HTTP/1.1 server with keep-alive, its own
   process) that answers 200 to every POST and counts them, and `--workers` worker processes
   exactly as the Procfile's `worker` line.
3. In `--rounds` alternating rounds of count/rounds deliveries each (so both face the same
   machine load on a shared box):
   - ceiling: `--workers` processes of a bare httpx sender, each a pooled httpx.Client driven by
     DELIVERY_CONCURRENCY threads, POST webhook bodies of the same shape and headers to the
     sink: nothing but HTTP;
   - XTRACKER: that many events and their queued deliveries are written (as ingest would, in
     bulk, outside the timing), the workers are woken, and the clock runs until every delivery
     is `delivered` (claimed, signed, sent, attempt logged, status written, change published).
4. Prints deliveries/s for both (total deliveries / total time) and the ratio; writes
   bench/results/delivery.json.

Target on 2 cores: ≥ 2,000 deliveries/s and ≥ 0.5 of the ceiling. The sink, Postgres, Redis and
the senders share the two cores, so every figure is a floor; compare the ratio.
"""
import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from multiprocessing import Process, Queue
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT))
import services  # noqa: E402

BIN = Path(sys.executable).parent
CONCURRENCY = 32
_LENGTH_RE = re.compile(rb"(?i)\r\ncontent-length:\s*(\d+)")
_OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"


class _SinkProtocol(asyncio.Protocol):
    """HTTP/1.1 with keep-alive and pipelining: 200 to every request; GET /count tells the total."""
    received = 0

    def connection_made(self, transport):
        self.transport = transport
        self.buffer = b""

    def data_received(self, data):
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            match = _LENGTH_RE.search(self.buffer, 0, end + 2)
            length = int(match.group(1)) if match else 0
            if len(self.buffer) < end + 4 + length:
                return
            head, self.buffer = self.buffer[:end], self.buffer[end + 4 + length:]
            if head.startswith(b"GET /count"):
                body = str(_SinkProtocol.received).encode()
                self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            else:
                _SinkProtocol.received += 1
                self.transport.write(_OK)


def run_sink(port: int) -> None:
    """Serve the sink until killed."""
    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(loop.create_server(_SinkProtocol, "127.0.0.1", port, backlog=1024))
    loop.run_until_complete(server.serve_forever())


def sample_body(n: int) -> bytes:
    """A webhook body of the shape and size XTRACKER sends (docs/webhooks.md)."""
    return json.dumps({"type": "conversion", "timestamp": "2026-01-01T00:00:00Z", "data": {
        "id": f"xt-{n}-1", "event": "deposit", "event_name": "deposit", "inbox_id": str(n), "space": "bench",
        "uid": f"u{n}", "tg_id": None, "eid": f"e{n}", "value": "25", "currency": "USD",
        "occurred_at": "2026-01-01T00:00:00Z", "occurred_at_ms": 1767225600000,
        "received_at": "2026-01-01T00:00:00.123456Z", "source": "post", "flags": [], "click": None}},
        separators=(",", ":")).encode()


def bare_sender(url: str, start: int, count: int, done: Queue) -> None:
    """POST `count` bodies with a pooled httpx.Client from CONCURRENCY threads (no database, no signing)."""
    limits = httpx.Limits(max_connections=CONCURRENCY * 2, max_keepalive_connections=CONCURRENCY * 2)
    with httpx.Client(limits=limits, timeout=15, trust_env=False) as client:
        def post(n: int) -> int:
            return client.post(url, content=sample_body(n), headers={
                "content-type": "application/json", "webhook-id": f"xt-{n}-1",
                "webhook-timestamp": "1767225600", "webhook-signature": "v1," + "A" * 44}).status_code

        with ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
            ok = sum(1 for status in pool.map(post, range(start, start + count)) if status == 200)
    done.put(ok)


def ceiling(url: str, count: int, workers: int) -> float:
    """Bare-sender deliveries per second over `workers` processes."""
    done: Queue = Queue()
    share = count // workers
    processes = [Process(target=bare_sender, args=(url, i * share, share, done)) for i in range(workers)]
    started = time.perf_counter()
    for p in processes:
        p.start()
    ok = sum(done.get() for _ in processes)
    elapsed = time.perf_counter() - started
    for p in processes:
        p.join()
    assert ok == share * workers, f"the bare sender got {share * workers - ok} non-200 answers"
    return ok / elapsed


def cli(env: dict, *args: str) -> dict:
    out = subprocess.run([str(BIN / "flask"), "--app", "wsgi", *args, "--json"], cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


def queue_deliveries(database_url: str, space_id: int, destination_id: int, first: int, count: int) -> None:
    """`count` deposit events and one due webhook delivery each, written in bulk."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        with conn.transaction():
            conn.execute(
                "INSERT INTO events (space_id, event, uid, eid, value, currency, occurred_at_ms, received_at, source,"
                " dedup_key) SELECT %(space)s, 'deposit', 'u' || n, 'e' || n, 25, 'USD',"
                " (extract(epoch FROM now()) * 1000)::bigint, now(), 'post', 'eid:deposit:e' || n"
                " FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS n",
                {"space": space_id, "first": first, "last": first + count - 1})
            conn.execute(
                "INSERT INTO deliveries (space_id, event_id, destination_id, event, created_at, next_attempt_at)"
                " SELECT e.space_id, e.id, %(destination)s, e.event, e.received_at, e.received_at FROM events e"
                " WHERE e.space_id = %(space)s AND NOT EXISTS (SELECT 1 FROM deliveries d"
                "   WHERE d.space_id = e.space_id AND d.event_id = e.id)",
                {"space": space_id, "destination": destination_id})
        conn.execute("ANALYZE events")
        conn.execute("ANALYZE deliveries")


def outstanding(conn: psycopg.Connection) -> bool:
    """True while some delivery is not finished (cheap: the outbox's partial due index)."""
    return conn.execute("SELECT EXISTS (SELECT 1 FROM deliveries WHERE next_attempt_at IS NOT NULL)").fetchone()[0]


def delivered(conn: psycopg.Connection) -> int:
    return conn.execute("SELECT count(*) FROM deliveries WHERE status = 'delivered'").fetchone()[0]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2, help="worker processes (and bare sender processes)")
    parser.add_argument("--rounds", type=int, default=4, help="alternating ceiling/XTRACKER rounds")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="xt-bench-delivery-"))
    redis = services.Redis(base)
    sink_port = free_port()
    sink = Process(target=run_sink, args=(sink_port,), daemon=True)
    sink.start()
    workers: list[subprocess.Popen] = []
    sink_url = f"http://127.0.0.1:{sink_port}/hook"
    try:
        database_url = services.start_postgres(base, database="xtracker_bench")
        env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis.start(),
               "SECRET_KEY": "bench-" + "k" * 40, "LOG_LEVEL": "WARNING", "ALLOW_PRIVATE_DESTINATIONS": "1",
               "DELIVERY_CONCURRENCY": str(CONCURRENCY)}
        subprocess.run([str(BIN / "flask"), "--app", "wsgi", "db", "migrate"], cwd=ROOT, env=env, check=True,
                       capture_output=True)
        space = cli(env, "space", "create", "Bench")
        destination = cli(env, "destination", "create", space["space"], "--kind", "webhook", "--url", sink_url)
        with psycopg.connect(database_url) as conn:
            space_id = conn.execute("SELECT id FROM spaces WHERE slug = %s", (space["space"],)).fetchone()[0]

        for _ in range(args.workers):
            workers.append(subprocess.Popen([sys.executable, "-m", "jobs.worker"], cwd=ROOT, env=env,
                                            start_new_session=True))
        from app import close_app, create_app
        from app.conversion import wake
        app = create_app({"DATABASE_URL": database_url, "REDIS_URL": env["REDIS_URL"],
                          "SECRET_KEY": env["SECRET_KEY"], "LOG_LEVEL": "WARNING"}, process="cli")
        watch = psycopg.connect(database_url, autocommit=True)
        share = args.count // args.rounds
        bare_seconds = ours_seconds = 0.0
        before = int(httpx.get(f"http://127.0.0.1:{sink_port}/count").text)
        print(f"{args.rounds} rounds of {share}: a bare httpx sender ({args.workers} processes x {CONCURRENCY} threads),"
              f" then XTRACKER's outbox ({args.workers} worker processes, Procfile `worker`)")
        for round_number in range(args.rounds):
            bare_seconds += share / ceiling(sink_url, share, args.workers)
            queue_deliveries(database_url, space_id, destination["destination"]["id"], round_number * share + 1, share)
            target = (round_number + 1) * share
            started = time.perf_counter()
            wake.wake(app, wake.DELIVERY)
            while outstanding(watch):
                time.sleep(0.05)
                if time.perf_counter() - started > 900:
                    raise RuntimeError(f"deliveries still outstanding after 15 minutes ({delivered(watch)} delivered)")
            ours_seconds += time.perf_counter() - started
            if delivered(watch) != target:
                raise RuntimeError(f"{delivered(watch)} delivered, expected {target}")
            print(f"  round {round_number + 1}: bare {share * (round_number + 1) / bare_seconds:.0f}/s,"
                  f" xtracker {share * (round_number + 1) / ours_seconds:.0f}/s so far")
        close_app(app)
        watch.close()
        total = share * args.rounds
        bare_rate, ours = total / bare_seconds, total / ours_seconds
        received = int(httpx.get(f"http://127.0.0.1:{sink_port}/count").text) - before - total

        results = {"count": total, "rounds": args.rounds, "workers": args.workers, "concurrency": CONCURRENCY,
                   "bare_httpx_per_s": round(bare_rate), "xtracker_per_s": round(ours),
                   "ratio": round(ours / bare_rate, 3), "sink_received": received}
        print(f"\n{'sender':<26}{'deliveries/s':>14}")
        print(f"{'bare httpx (ceiling)':<26}{bare_rate:>14.0f}")
        print(f"{'xtracker outbox':<26}{ours:>14.0f}")
        print(f"\nratio xtracker / ceiling = {ours / bare_rate:.2f}; sink received {received} requests"
              f" for {total} deliveries")
        out = ROOT / "bench" / "results"
        out.mkdir(exist_ok=True)
        (out / "delivery.json").write_text(json.dumps(results, indent=2))
        return 0
    finally:
        for worker in workers:
            os.killpg(worker.pid, signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
        sink.kill()
        redis.stop()
        services.stop_postgres(base)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
