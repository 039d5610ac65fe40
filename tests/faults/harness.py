"""The fault suite's stage: the Procfile's processes on their own PostgreSQL and Redis, a webhook sink, load.

`ProcfileStack` starts a private, durable PostgreSQL cluster and a Redis (nothing persisted, so a
Redis restart loses every queued job, as a real crash of an unpersisted Redis would), applies the
migrations and runs each Procfile line (web: gunicorn + gevent, worker, scheduler) as its own
subprocess, exactly as written there. Scenarios stop, kill and restart any of them.
"""
import asyncio
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import httpx
import psycopg

from tests.conftest import ROOT, TEST_SECRET_KEY, free_port

sys.path.insert(0, str(ROOT / "scripts"))
import services  # noqa: E402

VENV_BIN = Path(sys.executable).parent


def procfile() -> dict[str, list[str]]:
    """{process name: argv} from the Procfile, the first word resolved in the test virtualenv."""
    found = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if ":" in line and not line.lstrip().startswith("#"):
            name, command = line.split(":", 1)
            argv = command.split()
            argv[0] = str(VENV_BIN / argv[0])
            found[name.strip()] = argv
    return found


class ProcfileStack:
    """PostgreSQL, Redis and every Procfile process, each one stoppable, killable and restartable."""

    def __init__(self, **settings):
        self.base = Path(tempfile.mkdtemp(prefix="xt-faults-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.database_url = services.start_postgres(self.base / "pg", database="xtracker_faults")
        self.redis = services.Redis(self.base / "redis")
        self.redis_url = self.redis.start()
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            from app import db as app_db
            app_db.migrate(conn)
        self.env = {**os.environ, "DATABASE_URL": self.database_url, "REDIS_URL": self.redis_url,
                    "SECRET_KEY": TEST_SECRET_KEY, "PORT": str(self.port), "WEB_CONCURRENCY": "2",
                    "ALLOW_PRIVATE_DESTINATIONS": "1", "LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1",
                    # A killed worker's claimed deliveries are due again after this lease (30 s is the least).
                    "DELIVERY_LEASE_SECONDS": "30", "DELIVERY_CONCURRENCY": "32",
                    **{k: str(v) for k, v in settings.items()}}
        self.commands = procfile()
        self.processes: dict[str, subprocess.Popen] = {}
        self.started: Counter = Counter()
        self.app = None

    # processes -----------------------------------------------------------------------------
    def start(self, name: str) -> subprocess.Popen:
        log = open(self.base / f"{name}.log", "a")
        process = subprocess.Popen(self.commands[name], cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        log.close()
        self.processes[name] = process
        self.started[name] += 1
        return process

    def start_all(self) -> "ProcfileStack":
        for name in self.commands:
            self.start(name)
        self.wait_web()
        return self

    def wait_web(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.processes["web"].poll() is not None:
                raise RuntimeError("web exited:\n" + self.log("web"))
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("web did not become ready:\n" + self.log("web"))

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        process = self.processes[name]
        if process.poll() is None:
            os.killpg(process.pid, sig)
            process.wait(30)

    def exited(self) -> dict[str, int]:
        """{name: exit code} of every process that is not running."""
        return {name: p.returncode for name, p in self.processes.items() if p.poll() is not None}

    def log(self, name: str, tail: int = 4000) -> str:
        path = self.base / f"{name}.log"
        return path.read_text(errors="replace")[-tail:] if path.exists() else ""

    # services ------------------------------------------------------------------------------
    def stop_postgres(self) -> None:
        """Stop PostgreSQL the hard way (immediate: no checkpoint, as a crash; committed data is durable)."""
        subprocess.run([*services._pg_user(), str(services.postgres_bin() / "pg_ctl"), "-D",
                        str(self.base / "pg" / "pgdata"), "-m", "immediate", "-w", "stop"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)

    def start_postgres(self) -> None:
        services.start_postgres(self.base / "pg", database="xtracker_faults")

    def stop_redis(self) -> None:
        self.redis.stop()

    def start_redis(self) -> None:
        self.redis.start()

    # data ----------------------------------------------------------------------------------
    def space_with_webhook(self, name: str, sink_url: str) -> dict:
        """A space with its bearer and one webhook destination pointing at `sink_url`."""
        from app import create_app, db as app_db
        from app.auth import store as auth_store
        from app.delivery import configure
        from app.space import store as space_store
        from datetime import datetime, timezone
        if self.app is None:
            self.app = create_app({"DATABASE_URL": self.database_url, "REDIS_URL": self.redis_url,
                                   "SECRET_KEY": TEST_SECRET_KEY, "DB_POOL_MIN": 1,
                                   "ALLOW_PRIVATE_DESTINATIONS": True})
        with self.app.app_context():
            with app_db.transaction() as conn:
                space = space_store.create_space(conn, name)
                space["bearer"] = auth_store.create_key(conn, space["id"], "bearer", datetime.now(timezone.utc))
            configure.create_destination(space["id"], "webhook", {"url": sink_url}, name="sink", event_map=None)
        return space

    def query(self, sql: str, params: dict | None = None) -> list[tuple]:
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            cursor = conn.execute(sql, params or {})
            return cursor.fetchall() if cursor.description else []

    def delivery_counts(self, space_id: int) -> dict[str, int]:
        return dict(self.query("SELECT status, count(*) FROM deliveries WHERE space_id = %(s)s GROUP BY status",
                               {"s": space_id}))

    def wait_delivered(self, space_id: int, expected: int, timeout: float) -> float | None:
        """Seconds until `expected` deliveries of the space are delivered; None on timeout."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            try:
                if self.delivery_counts(space_id).get("delivered", 0) >= expected:
                    return time.monotonic() - started
            except psycopg.OperationalError:
                pass
            time.sleep(0.5)
        return None

    def close(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                    process.wait(15)
                except (OSError, subprocess.TimeoutExpired):
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
        if self.app is not None:
            from app import close_app
            close_app(self.app)
        self.redis.stop()
        services.stop_postgres(self.base / "pg")
        if os.environ.get("XT_FAULTS_KEEP"):
            print(f"fault suite: processes' logs kept in {self.base}")
        else:
            shutil.rmtree(self.base, ignore_errors=True)


class Sink:
    """tests/faults/sink.py as its own process; reads back (webhook-id, eid) of every request it got."""

    def __init__(self, base: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.path = base / f"sink-{self.port}.log"
        self.process = subprocess.Popen([sys.executable, str(Path(__file__).with_name("sink.py")), str(self.port),
                                         str(self.path)], start_new_session=True)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                httpx.post(self.url, content=b"{}", timeout=1)
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("the sink did not start")

    def received(self) -> list[tuple[str, str]]:
        lines = self.path.read_text().splitlines() if self.path.exists() else []
        return [tuple(line.split("\t", 1)) for line in lines if "\t" in line and not line.startswith("?")]

    def verdict(self, eids: set[str]) -> dict:
        """Unique eids received, requests, duplicate requests, and eids seen under more than one webhook-id."""
        ids = defaultdict(set)
        requests = 0
        for webhook_id, eid in self.received():
            if eid in eids:
                requests += 1
                ids[eid].add(webhook_id)
        return {"unique": len(ids), "requests": requests, "duplicates": requests - len(ids),
                "missing": len(eids - set(ids)), "mixed_ids": sum(1 for v in ids.values() if len(v) > 1)}

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


async def post_events(url: str, bearer: str, bodies: list[dict], *, concurrency: int = 32,
                      rate: float | None = None, retry_until: float | None = None) -> dict[str, list[str]]:
    """POST each body to /events; {eid: [answers in order]} ("queued", "duplicate", "503", "error: …").

    `rate` paces the starts (events per second); `retry_until` (a monotonic deadline) retries an
    event that was not answered queued/duplicate, 0.5 s apart, as a well-behaved client does.
    """
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a log record per request would slow the load
    answers: dict[str, list[str]] = defaultdict(list)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    semaphore = asyncio.Semaphore(concurrency)
    headers = {"Authorization": f"Bearer {bearer}"}
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=15, headers=headers) as client:
        async def one(body: dict) -> None:
            async with semaphore:
                while True:
                    try:
                        response = await client.post("/events", json=body)
                        answer = response.json().get("status") if response.status_code == 200 \
                            else str(response.status_code)
                    except (httpx.HTTPError, ValueError) as exc:
                        answer = f"error: {type(exc).__name__}"
                    answers[body["eid"]].append(answer)
                    if answer in ("queued", "duplicate") or retry_until is None or time.monotonic() > retry_until:
                        return
                    await asyncio.sleep(0.5)

        tasks = []
        started = time.monotonic()
        for index, body in enumerate(bodies):
            if rate:
                delay = started + index / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(body)))
        await asyncio.gather(*tasks)
    return answers


def events(prefix: str, count: int) -> list[dict]:
    """`count` registration events with eids `<prefix>-<n>`."""
    return [{"event": "registration", "uid": f"{prefix}-u{n}", "eid": f"{prefix}-{n}"} for n in range(count)]
