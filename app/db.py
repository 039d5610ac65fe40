"""PostgreSQL access: the connection pool, connections and transactions, SQL files, migrations.

Pooled connections run in autocommit mode so that a single-statement write (the ingest hot path)
costs one round trip and is still atomic; multi-statement work opens `transaction()`.

Every connection is safe behind PgBouncer in transaction mode: psycopg never prepares statements
on the server (`prepare_threshold=None`, see CONNECT_KWARGS), nothing is kept in the session (no
SET, temporary tables, WITH HOLD cursors or LISTEN), and locks are transaction-level.
"""
import logging
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout
from flask import current_app

from app import services

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
SQL_DIR = ROOT / "sql"
MIGRATIONS_DIR = SQL_DIR / "migrations"

_sql_cache: dict[str, str] = {}

# Connection options every XTRACKER connection uses. psycopg would otherwise prepare a statement
# on the server after its fifth run; behind a transaction-mode pooler the next transaction may run
# on another server session, where that name is unknown or already taken (DuplicatePreparedStatement).
CONNECT_KWARGS = {"prepare_threshold": None}


class StorageUnavailable(Exception):
    """PostgreSQL could not be reached in time; callers answer 503 and clients retry."""


def create_pool(url: str, *, min_size: int, max_size: int, timeout: float, application_name: str) -> ConnectionPool:
    """Build a pool of autocommit dict-row connections; it connects in the background."""
    def configure(conn: psycopg.Connection) -> None:
        conn.autocommit = True

    pool = ConnectionPool(
        url,
        min_size=min_size,
        max_size=max_size,
        timeout=timeout,
        open=False,
        kwargs={"application_name": application_name, "row_factory": dict_row, "connect_timeout": 5,
                **CONNECT_KWARGS},
        configure=configure,
        name=application_name,
    )
    pool.open(wait=False)
    return pool


def connect(url: str, **kwargs) -> psycopg.Connection:
    """Open one connection outside the pool (CLI tools, scripts, tests) with CONNECT_KWARGS applied."""
    return psycopg.connect(url, **{**kwargs, **CONNECT_KWARGS})


def _pool(pool: ConnectionPool | None) -> ConnectionPool:
    return pool if pool is not None else services.of(current_app).pool


@contextmanager
def connection(pool: ConnectionPool | None = None) -> Iterator[psycopg.Connection]:
    """Lend an autocommit connection; connection failures become StorageUnavailable."""
    try:
        with _pool(pool).connection() as conn:
            yield conn
    except (PoolTimeout, psycopg.OperationalError) as exc:
        raise StorageUnavailable(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from exc


@contextmanager
def transaction(pool: ConnectionPool | None = None) -> Iterator[psycopg.Connection]:
    """Lend a connection inside BEGIN … COMMIT (ROLLBACK on any exception)."""
    with connection(pool) as conn:
        with conn.transaction():
            yield conn


def load_sql(name: str) -> str:
    """Return the text of sql/<name>.sql, cached after the first read."""
    text = _sql_cache.get(name)
    if text is None:
        text = (SQL_DIR / f"{name}.sql").read_text()
        _sql_cache[name] = text
    return text


def migration_files() -> list[tuple[str, Path]]:
    """List (version, path) of every migration in order; versions are the file stems."""
    return sorted((p.stem, p) for p in MIGRATIONS_DIR.glob("[0-9][0-9][0-9][0-9]_*.sql"))


def migrate(conn: psycopg.Connection, *, through: str | None = None) -> list[str]:
    """Apply pending migrations (up to the version `through`, when given), each in its own transaction.

    Returns the versions applied.

    Every transaction first takes a transaction-level advisory lock, so concurrent migrators (two
    processes starting at once) apply each version once, and no lock outlives its transaction
    (safe behind PgBouncer in transaction mode). `conn` must be in autocommit mode or idle.
    """
    lock = "SELECT pg_advisory_xact_lock(hashtext('xtracker:migrate'))"
    with conn.transaction():
        conn.execute(lock)
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {_first(r) for r in conn.execute("SELECT version FROM schema_migrations").fetchall()}
    applied_now: list[str] = []
    for version, path in migration_files():
        if through is not None and version > through:
            break
        if version in done:
            continue
        with conn.transaction():
            conn.execute(lock)
            # Read after the lock: another migrator may have applied it while we waited.
            if conn.execute("SELECT 1 FROM schema_migrations WHERE version = %(v)s", {"v": version}).fetchone():
                continue
            conn.execute(path.read_text())
            conn.execute("INSERT INTO schema_migrations (version) VALUES (%(v)s)", {"v": version})
        log.info("applied migration %s", version)
        applied_now.append(version)
    return applied_now


def _first(row):
    return row["version"] if isinstance(row, dict) else row[0]
