"""Live feed benchmark: many websocket viewers on one web process, events ingested at a steady rate.

Usage: .venv-test/bin/python bench/live.py [--viewers 1000] [--spaces 100] [--rate 1000] [--seconds 10]

1. Starts a private PostgreSQL and Redis, migrates, creates --spaces spaces and one viewer who is
   a member of all of them.
2. Starts two gunicorns with gunicorn.conf.py (gevent): the viewers' web process
   (WEB_CONCURRENCY=1) and an ingest web process (WEB_CONCURRENCY=1) that takes POST /events,
   so that the figure is the fan-out's, not the ingest's.
3. Opens --viewers websockets (signed in, spread evenly over the spaces) from gevent greenlets,
   then POSTs contact events round-robin over the spaces at --rate per second for --seconds.
4. For every frame a viewer receives, latency = receive time − the time its POST started.
   Prints frames, p50/p99/max latency, the POST's own latency (the part spent in ingest), the
   time from the POST's answer to the frame (the fan-out's part), the share of a core each part
   used while sending (viewers' web process, ingest web process, PostgreSQL, this load
   generator), and the viewers' process memory per viewer (RSS growth over the connections /
   viewers); writes bench/results/live.json.

Target: p99 ingest → frame < 50 ms at 1,000 events/s with 1,000 viewers. The load generator
shares the two cores with both servers, PostgreSQL and Redis, so figures are floors.
"""
from gevent import monkey

monkey.patch_all()

import argparse  # noqa: E402
import base64  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402
import httpx  # noqa: E402
import psycopg  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "bench"))
import services  # noqa: E402
from harness import free_port, serve, stop  # noqa: E402

BIN = Path(sys.executable).parent
PASSWORD = "bench password 123"
SENDERS = 64


class WebSocketFrames:
    """Reads a server's websocket frames from a plain socket: unmasked, unfragmented text
    frames as flask-sock sends them; pings are answered, a close frame ends the stream."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buffer = b""

    def handshake(self) -> None:
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            raise RuntimeError(f"websocket upgrade refused: {head.splitlines()[0]!r}")

    def _fill(self) -> None:
        chunk = self.sock.recv(262144)
        if not chunk:
            raise ConnectionError("websocket closed")
        self.buffer += chunk

    def next_batch(self) -> list[bytes]:
        """Every complete text frame available now (waiting for at least one)."""
        payloads: list[bytes] = []
        while not payloads:
            if len(self.buffer) < 2:
                self._fill()
            data, pos = self.buffer, 0
            while len(data) - pos >= 2:
                opcode, length = data[pos] & 0x0F, data[pos + 1] & 0x7F
                head = 2
                if length == 126:
                    if len(data) - pos < 4:
                        break
                    length, head = int.from_bytes(data[pos + 2:pos + 4], "big"), 4
                elif length == 127:
                    if len(data) - pos < 10:
                        break
                    length, head = int.from_bytes(data[pos + 2:pos + 10], "big"), 10
                if len(data) - pos < head + length:
                    break
                payload = data[pos + head:pos + head + length]
                pos += head + length
                if opcode == 0x1:
                    payloads.append(payload)
                elif opcode == 0x9:  # ping → pong, masked with a zero key as a client must
                    self.sock.sendall(bytes([0x8A, 0x80 | len(payload)]) + b"\0\0\0\0" + payload)
                elif opcode == 0x8:
                    raise ConnectionError("websocket closed by the server")
            self.buffer = data[pos:]
            if not payloads:
                self._fill()
        return payloads


def process_tree(pid: int) -> list[int]:
    """`pid` and its children (a gunicorn master and its workers, a postmaster and its backends)."""
    try:
        return [pid] + [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return [pid]


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds used so far by `pids` (those still running)."""
    total, ticks = 0.0, os.sysconf("SC_CLK_TCK")
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def worker_rss_kb(master: subprocess.Popen) -> int:
    """Resident memory of the gunicorn master's (single) worker."""
    children = Path(f"/proc/{master.pid}/task/{master.pid}/children").read_text().split()
    total = 0
    for pid in children:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total


def setup(database_url: str, spaces: int) -> list[dict]:
    """Spaces with bearer secrets and one viewer of all of them."""
    from app.auth import store as auth_store
    from app.lib import passwords
    from app.space import store as space_store
    from datetime import datetime, timezone
    rows = []
    with psycopg.connect(database_url, autocommit=True, row_factory=psycopg.rows.dict_row) as conn:
        with conn.transaction():
            user = auth_store.create_user(conn, "viewer@bench.local", passwords.hash_password(PASSWORD))
            for i in range(spaces):
                space = space_store.create_space(conn, f"Live {i}")
                space["bearer"] = auth_store.create_key(conn, space["id"], "bearer", datetime.now(timezone.utc))
                auth_store.set_membership(conn, space["id"], user["id"], "viewer")
                rows.append(space)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--viewers", type=int, default=1000)
    parser.add_argument("--spaces", type=int, default=100)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="xt-bench-live-"))
    redis_server = services.Redis(base)
    database_url = services.start_postgres(base, database="xtracker_bench", fast=True)
    servers: list[subprocess.Popen] = []
    try:
        redis_url = redis_server.start()
        from app.db import migrate
        with psycopg.connect(database_url, autocommit=True) as conn:
            migrate(conn)
        spaces = setup(database_url, args.spaces)
        env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url, "SECRET_KEY": "l" * 40,
               "WEB_CONCURRENCY": "1", "LOG_LEVEL": "WARNING", "DB_POOL_MAX": "20"}
        view_port, ingest_port = free_port(), free_port()
        servers.append(serve("wsgi:app", env, view_port, log=base / "view.log"))
        servers.append(serve("wsgi:app", env, ingest_port, log=base / "ingest.log"))
        viewer_server = servers[0]

        login = httpx.Client(base_url=f"http://127.0.0.1:{view_port}")
        token = re.search(r'name="csrf_token" value="([^"]+)"', login.get("/login").text).group(1)
        assert login.post("/login", data={"email": "viewer@bench.local", "password": PASSWORD,
                                          "csrf_token": token}).status_code == 302
        cookie = f"xt_session={login.cookies['xt_session']}"
        rss_before = worker_rss_kb(viewer_server)

        sent_at: dict[str, float] = {}
        acked_at: dict[str, float] = {}
        latencies: list[float] = []
        after_ack: list[float] = []
        opened = [0]
        stop_reading = [False]

        def view(space: dict) -> None:
            # A minimal websocket client on a plain socket: the 10,000 frames a second that
            # 1,000 viewers receive must cost the load generator far less than the server.
            sock = socket.create_connection(("127.0.0.1", view_port), timeout=30)
            sock.sendall((f"GET /spaces/{space['slug']}/ws HTTP/1.1\r\nHost: 127.0.0.1:{view_port}\r\n"
                          f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                          f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n"
                          f"Cookie: {cookie}\r\n\r\n").encode())
            frames = WebSocketFrames(sock)
            frames.handshake()
            frames.next_batch()  # the feed's initial rows
            opened[0] += 1
            sock.settimeout(1.0)
            while not stop_reading[0]:
                try:
                    batch = frames.next_batch()
                except socket.timeout:
                    continue
                now = time.perf_counter()
                for payload in batch:
                    start = payload.find(b'title="lv')
                    if start < 0:
                        continue
                    uid = payload[start + 7:payload.index(b'"', start + 7)].decode()
                    if uid in sent_at:
                        latencies.append((now - sent_at[uid]) * 1000)
                        if uid in acked_at:
                            after_ack.append((now - acked_at[uid]) * 1000)
            sock.close()

        readers = [gevent.spawn(view, spaces[i % len(spaces)]) for i in range(args.viewers)]
        deadline = time.monotonic() + 120
        while opened[0] < args.viewers and time.monotonic() < deadline:
            gevent.sleep(0.2)
        print(f"{opened[0]} viewers connected", flush=True)
        gevent.sleep(1.0)
        rss_after = worker_rss_kb(viewer_server)

        failures = [0]
        post_ms: list[float] = []
        total = int(args.rate * args.seconds)
        senders_count = min(SENDERS, total)

        def sender(k: int) -> None:
            # One keep-alive connection per sender and requests written by hand: the load
            # generator must stay far cheaper than the servers it measures.
            sock = socket.create_connection(("127.0.0.1", ingest_port), timeout=10)
            reader = sock.makefile("rb")
            for n in range(k, total, senders_count):
                due = started + n / args.rate
                delay = due - time.perf_counter()
                if delay > 0:
                    gevent.sleep(delay)
                space = spaces[n % len(spaces)]
                uid = f"lv{n}"
                body = f'{{"event":"contact","uid":"{uid}"}}'.encode()
                request = (f"POST /events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {space['bearer']}\r\n"
                           f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
                sent_at[uid] = time.perf_counter()
                try:
                    sock.sendall(request)
                    status = int(reader.readline().split()[1])
                    length = 0
                    while (line := reader.readline()) not in (b"\r\n", b""):
                        if line.lower().startswith(b"content-length:"):
                            length = int(line.split(b":", 1)[1])
                    reader.read(length)
                    acked_at[uid] = time.perf_counter()
                    post_ms.append((acked_at[uid] - sent_at[uid]) * 1000)
                    if status != 200:
                        failures[0] += 1
                except (OSError, ValueError, IndexError):
                    failures[0] += 1
                    sock.close()
                    sock = socket.create_connection(("127.0.0.1", ingest_port), timeout=10)
                    reader = sock.makefile("rb")
            sock.close()

        postmaster = int((base / "pgdata" / "postmaster.pid").read_text().split()[0])
        groups = {"viewers_web": process_tree(servers[0].pid), "ingest_web": process_tree(servers[1].pid),
                  "postgres": process_tree(postmaster), "load_generator": [os.getpid()]}
        cpu_before = {name: cpu_seconds(pids) for name, pids in groups.items()}
        started = time.perf_counter()
        gevent.joinall([gevent.spawn(sender, k) for k in range(senders_count)])
        elapsed = time.perf_counter() - started
        achieved = total / elapsed
        # Share of the machine's cores each part used while the events were sent.
        cpu_cores = {name: round((cpu_seconds(pids) - cpu_before[name]) / elapsed, 2) for name, pids in groups.items()}
        gevent.sleep(2.0)
        stop_reading[0] = True
        gevent.joinall(readers, timeout=5)

        expected = total * (args.viewers // args.spaces)
        latencies.sort()
        post_ms.sort()
        after_ack.sort()

        def pct(p: float, values: list[float] = latencies) -> float:
            return round(values[min(len(values) - 1, int(p * len(values)))], 2) if values else float("nan")

        result = {"viewers": opened[0], "spaces": args.spaces, "events": total, "events_per_s": round(achieved),
                  "ingest_failures": failures[0], "frames_expected": expected, "frames_received": len(latencies),
                  "p50_ms": pct(0.50), "p99_ms": pct(0.99), "max_ms": round(latencies[-1], 2) if latencies else None,
                  "post_p50_ms": pct(0.50, post_ms), "post_p99_ms": pct(0.99, post_ms),
                  "after_answer_p50_ms": pct(0.50, after_ack), "after_answer_p99_ms": pct(0.99, after_ack),
                  "cpu_cores_while_sending": cpu_cores,
                  "rss_before_kb": rss_before, "rss_after_kb": rss_after,
                  "kb_per_viewer": round((rss_after - rss_before) / max(opened[0], 1), 1)}
        print(json.dumps(result, indent=2))
        print(f"\ningest → frame p99 {result['p99_ms']} ms at {result['events_per_s']} events/s with {opened[0]} viewers"
              f" (target < 50 ms: {'met' if result['p99_ms'] < 50 else 'MISSED'}); memory per viewer"
              f" {result['kb_per_viewer']} KiB")
        out = ROOT / "bench" / "results"
        out.mkdir(exist_ok=True)
        (out / "live.json").write_text(json.dumps(result, indent=2))
        return 0
    finally:
        for process in servers:
            stop(process)
        redis_server.stop()
        services.stop_postgres(base)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
