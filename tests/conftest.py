"""Fixtures: private PostgreSQL and Redis for the run, the app, clients, spaces and a live server.

The run starts its own throwaway servers (or uses TEST_DATABASE_URL / TEST_REDIS_URL), refuses
any database whose name does not end in `_test`, and fails, never skips, when one is missing.
With PGBOUNCER=1 (`make test PGBOUNCER=1`) the run also starts a PgBouncer in transaction mode in
front of that PostgreSQL, and every app, CLI and server the tests start connects through it
(`servers.database_url`); fixtures that only set up or inspect data use `servers.direct_url`.
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlparse

import httpx
import psycopg
import pytest
import redis as redis_lib
from psycopg.rows import dict_row

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import services  # noqa: E402

from app import close_app, create_app, db as app_db  # noqa: E402
from app.auth import credentials, store as auth_store  # noqa: E402
from app.space import store as space_store  # noqa: E402

TEST_SECRET_KEY = "test-secret-key-" + "k" * 40
VENV_BIN = Path(sys.executable).parent


def pgbouncer_requested() -> bool:
    """True when the run goes through PgBouncer (PGBOUNCER=1)."""
    value = os.environ.get("PGBOUNCER", "").strip().lower()
    if value not in ("", "0", "1", "no", "yes", "false", "true"):
        raise pytest.UsageError(f"PGBOUNCER={value!r}: use 1 or 0")
    return value in ("1", "yes", "true")


class Servers:
    """The run's PostgreSQL, Redis and (PGBOUNCER=1) PgBouncer, with a handle to stop and restart Redis.

    `database_url` is what the app connects to (PgBouncer's when it runs); `direct_url` is always
    PostgreSQL itself.
    """

    def __init__(self):
        self.base = Path(tempfile.mkdtemp(prefix="xt-test-"))
        self.redis_proc: services.Redis | None = None
        self.bouncer: services.PgBouncer | None = None
        self.own_postgres = False
        self.direct_url = os.environ.get("TEST_DATABASE_URL") or ""
        self.database_url = self.direct_url
        self.redis_url = os.environ.get("TEST_REDIS_URL") or ""

    def start(self) -> None:
        if not self.direct_url:
            self.direct_url = services.start_postgres(self.base, database="xtracker_test", fast=True)
            self.own_postgres = True
        name = urlparse(self.direct_url).path.lstrip("/")
        if not name.endswith("_test"):
            raise pytest.UsageError(f"refusing to use database {name!r}: test databases must end in _test")
        self.database_url = self.direct_url
        if pgbouncer_requested():
            self.bouncer = services.PgBouncer(self.base / "pgbouncer", self.direct_url).start()
            self.database_url = self.bouncer.url(name)
        if not self.redis_url:
            self.redis_proc = services.Redis(self.base)
            self.redis_url = self.redis_proc.start()

    def stop_redis(self) -> None:
        assert self.redis_proc, "stopping Redis needs the run's own Redis (unset TEST_REDIS_URL)"
        self.redis_proc.stop()

    def start_redis(self) -> None:
        self.redis_proc.start()

    def close(self) -> None:
        if self.redis_proc:
            self.redis_proc.stop()
        if self.bouncer:
            self.bouncer.stop()
        if self.own_postgres:
            services.stop_postgres(self.base)
        shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture(scope="session")
def servers():
    """Start the throwaway servers once per run and apply the migrations."""
    found = Servers()
    try:
        found.start()
        # Through PgBouncer when it runs: the migrations are part of what must work behind it.
        with app_db.connect(found.database_url, autocommit=True) as conn:
            app_db.migrate(conn)
            tables = [r[0] for r in conn.execute(
                # Partitioned tables, not their days: a test's retention run may drop a day.
                "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'p')"
                " AND NOT relispartition AND relname <> 'schema_migrations'")]
        found.tables = tables
        yield found
    finally:
        found.close()


class Clock:
    """A test clock: frozen at `now` until moved with advance()."""

    def __init__(self):
        self.now = datetime.now(timezone.utc).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock():
    """The clock installed in `app`."""
    return Clock()


def settings(servers: Servers, **extra) -> dict:
    """Overrides that point an app at the run's servers."""
    return {"DATABASE_URL": servers.database_url, "REDIS_URL": servers.redis_url,
            "SECRET_KEY": TEST_SECRET_KEY, "DB_POOL_MIN": 1, **extra}


@pytest.fixture(autouse=True)
def clean_state(servers):
    """Empty every table and the Redis db before each test; flush Redis after it too."""
    with psycopg.connect(servers.direct_url, autocommit=True) as conn:
        conn.execute("TRUNCATE " + ", ".join(servers.tables) + " RESTART IDENTITY CASCADE")
    credentials.clear_cache()
    client = redis_lib.Redis.from_url(servers.redis_url)
    client.flushdb()
    yield
    try:
        client.flushdb()
    except redis_lib.RedisError:
        pass
    client.close()


@pytest.fixture
def partition_days(servers):
    """For tests whose retention runs drop days: afterwards the tables get today's and the next days back."""
    yield
    with psycopg.connect(servers.direct_url, autocommit=True) as conn:
        conn.execute("TRUNCATE event_keys")
        for table in ("delivery_attempts", "received_requests", "events", "clicks"):
            conn.execute("TRUNCATE " + table)
            conn.execute("SELECT partman.create_partition_time(%(parent)s, ARRAY(SELECT generate_series("
                         " date_trunc('day', now(), 'UTC'), date_trunc('day', now(), 'UTC') + interval '7 days',"
                         " interval '1 day')))", {"parent": f"public.{table}"})


@pytest.fixture
def app(servers, clock):
    """The XTRACKER app against the run's servers, with the test clock."""
    application = create_app(settings(servers, CLOCK=clock))
    application.config["TESTING"] = True
    yield application
    close_app(application)


@pytest.fixture
def client(app):
    """A Flask test client."""
    return app.test_client()


@pytest.fixture
def db(servers):
    """An autocommit connection straight to the test database (dict rows), never through PgBouncer."""
    with psycopg.connect(servers.direct_url, autocommit=True, row_factory=dict_row) as conn:
        yield conn


@pytest.fixture
def redis(servers):
    """A Redis client on the run's Redis."""
    client = redis_lib.Redis.from_url(servers.redis_url)
    yield client
    client.close()


def make_space(app, name: str) -> dict:
    """Create a space with both secrets; return its row plus `bearer` and `ingest`."""
    with app.app_context():
        with app_db.transaction() as conn:
            space = space_store.create_space(conn, name)
            now = app.config["CLOCK"]()
            space["bearer"] = auth_store.create_key(conn, space["id"], "bearer", now)
            space["ingest"] = auth_store.create_key(conn, space["id"], "ingest", now)
    return space


@pytest.fixture
def space(app):
    """Alice's space."""
    return make_space(app, "Alice Funnel")


@pytest.fixture
def other_space(app):
    """Bob's space: nothing of Alice's may be visible or writable with its credentials."""
    return make_space(app, "Bob Funnel")


def bearer(space: dict) -> dict:
    """Authorization header for a space's bearer secret."""
    return {"Authorization": f"Bearer {space['bearer']}"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """gunicorn started exactly as the Procfile's web line, on a free port."""

    def __init__(self, servers: Servers, env: dict | None = None, workers: int = 1):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "DATABASE_URL": servers.database_url, "REDIS_URL": servers.redis_url,
                    "SECRET_KEY": TEST_SECRET_KEY, "PORT": str(self.port), "WEB_CONCURRENCY": str(workers),
                    "LOG_LEVEL": "WARNING", **(env or {})}
        self.process: subprocess.Popen | None = None

    def start(self) -> "LiveServer":
        procfile = (ROOT / "Procfile").read_text()
        web = next(line.split(":", 1)[1].strip() for line in procfile.splitlines() if line.startswith("web:"))
        args = web.split()
        args[0] = str(VENV_BIN / args[0])
        self.log = tempfile.NamedTemporaryFile("w+", prefix="xt-gunicorn-", suffix=".log")
        self.process = subprocess.Popen(args, cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.log.seek(0)
                raise RuntimeError("gunicorn exited:\n" + self.log.read()[-3000:])
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("gunicorn did not answer /healthz within 30 s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()


ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


# Content-Security-Policy violations any browser tab reported; no_csp_violations fails the test that caused one.
CSP_VIOLATIONS: list[str] = []


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium driven by Playwright (never a downloaded browser), per test module.

    Module scope on purpose: sync Playwright runs an event loop in this thread while it is open,
    and later tests that call asyncio.run() need it closed. Every context it makes reports CSP
    violations from its console to CSP_VIOLATIONS.
    """
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=services.browser(), args=CHROMIUM_ARGS, headless=True)
        make_context = instance.new_context

        def new_context(*args, **kwargs):
            context = make_context(*args, **kwargs)
            context.on("console", lambda message: CSP_VIOLATIONS.append(
                f"{message.page.url if message.page else '?'}: {message.text}")
                if "Content Security Policy" in message.text else None)
            return context
        instance.new_context = new_context
        yield instance
        instance.close()


@pytest.fixture
def csp_violations() -> list[str]:
    """The run's list of CSP violations reported by browser tabs (a test may consume the ones it expects)."""
    return CSP_VIOLATIONS


@pytest.fixture(autouse=True)
def no_csp_violations():
    """Fail a test during which a browser tab reported a Content-Security-Policy violation."""
    seen = len(CSP_VIOLATIONS)
    yield
    assert not CSP_VIOLATIONS[seen:], CSP_VIOLATIONS[seen:]


def screenshot(tab, name: str, widths: tuple[int, ...] = (1440, 390), height: int = 1000) -> None:
    """Write tests/artifacts/<name>-<width>.png at each width, then restore the first width."""
    ARTIFACTS.mkdir(exist_ok=True)
    for width in widths:
        tab.set_viewport_size({"width": width, "height": height})
        tab.wait_for_timeout(200)
        tab.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)
    tab.set_viewport_size({"width": widths[0], "height": height})


@pytest.fixture(scope="session")
def live_server(servers):
    """One gunicorn (Procfile web line, gevent) for the run's black-box tests."""
    server = LiveServer(servers, workers=2).start()
    yield server
    server.stop()
