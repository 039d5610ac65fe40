"""Private PostgreSQL and Redis servers for `make run` and `make test` (and PgBouncer for `make test PGBOUNCER=1`).

Both listen only on Unix sockets inside a directory we own, so they never clash with servers
already on the machine. PostgreSQL refuses to run as root: as root we run it as the `postgres`
system user (created when missing). Missing binaries are installed with apt-get when we are
root; otherwise we stop and say exactly what to install.
"""
import glob
import os
import pwd
import shutil
import subprocess
import sys
import time
from pathlib import Path

APT_PACKAGES = {"postgres": "postgresql",  # and postgresql-NN-partman: pg_partman()
                "redis": "redis-server", "chromium": "chromium", "pgbouncer": "pgbouncer"}


class ServiceError(RuntimeError):
    """A service could not be provided; the message says what to do."""


def _is_root() -> bool:
    return os.geteuid() == 0


def apt_install(*packages: str) -> None:
    """Install Debian packages (root only); raise ServiceError naming them when impossible."""
    if not _is_root() or not shutil.which("apt-get"):
        raise ServiceError(f"missing OS packages; install them with: sudo apt-get install -y {' '.join(packages)}")
    print(f"installing OS packages: {' '.join(packages)}", file=sys.stderr, flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-q"], check=False, env=env, stdout=subprocess.DEVNULL)
    done = subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages], env=env,
                          stdout=subprocess.DEVNULL)
    if done.returncode != 0:
        raise ServiceError(f"apt-get install {' '.join(packages)} failed (exit {done.returncode}); install them by hand")


def postgres_bin() -> Path:
    """The directory holding initdb/pg_ctl/postgres, installing PostgreSQL when absent."""
    def find() -> Path | None:
        candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                            key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
        if candidates:
            return Path(candidates[-1]).parent
        initdb = shutil.which("initdb")
        return Path(initdb).parent if initdb else None

    found = find()
    if found is None:
        apt_install(APT_PACKAGES["postgres"])
        found = find()
    if found is None:
        raise ServiceError("PostgreSQL binaries (initdb, pg_ctl) not found; install the postgresql package")
    return found


def pg_partman(bindir: Path) -> None:
    """Make sure the PostgreSQL in `bindir` has the pg_partman extension, installing Debian's package when absent.

    The migrations partition the append-only logs with it (sql/migrations/0019_time_partitions.sql).
    """
    def sharedir() -> Path:
        pg_config = bindir / "pg_config"
        if pg_config.exists():
            return Path(subprocess.run([str(pg_config), "--sharedir"], capture_output=True, text=True,
                                       check=True).stdout.strip())
        return Path("/usr/share/postgresql") / _major(bindir)

    if (sharedir() / "extension" / "pg_partman.control").exists():
        return
    apt_install(f"postgresql-{_major(bindir)}-partman")
    if not (sharedir() / "extension" / "pg_partman.control").exists():
        raise ServiceError(f"pg_partman not found; install the postgresql-{_major(bindir)}-partman package")


def _major(bindir: Path) -> str:
    """The major version of the PostgreSQL in `bindir` ('15')."""
    out = subprocess.run([str(bindir / "postgres"), "--version"], capture_output=True, text=True, check=True).stdout
    return out.split()[2].split(".")[0]


def redis_server() -> str:
    """Path of redis-server, installing it when absent."""
    found = shutil.which("redis-server")
    if found is None:
        apt_install(APT_PACKAGES["redis"])
        found = shutil.which("redis-server")
    if found is None:
        raise ServiceError("redis-server not found; install the redis-server package")
    return found


def _pg_user() -> list[str]:
    """Command prefix that runs PostgreSQL tools as a non-root user when we are root."""
    if not _is_root():
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        subprocess.run(["useradd", "--system", "--home-dir", "/var/lib/postgresql", "--shell", "/bin/bash",
                        "postgres"], check=True)
    return ["runuser", "-u", "postgres", "--"]


def _chown_pg(path: Path) -> None:
    if _is_root():
        entry = pwd.getpwnam("postgres")
        os.chown(path, entry.pw_uid, entry.pw_gid)


def _traversable(path: Path) -> None:
    """Let the postgres user reach `path` (its parents need o+x when we are root)."""
    if not _is_root():
        return
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            os.chmod(parent, mode | 0o001)


def start_postgres(base: Path, *, database: str, fast: bool = False) -> str:
    """Start (initialising when new) a cluster in base/pgdata with its socket in base/run; return its URL.

    `fast` turns off durability (fsync) for throwaway test clusters.
    """
    bindir = postgres_bin()
    pg_partman(bindir)
    base = base.resolve()
    data, run = base / "pgdata", base / "run"
    for path in (base, run):
        path.mkdir(parents=True, exist_ok=True)
    _traversable(base)
    _chown_pg(run)
    as_pg = _pg_user()
    if not (data / "PG_VERSION").exists():
        data.mkdir(exist_ok=True)
        _chown_pg(data)
        os.chmod(data, 0o700)
        subprocess.run([*as_pg, str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                        "-E", "UTF8", "--locale=C.UTF-8" if _has_c_utf8() else "--locale=C"],
                       check=True, stdout=subprocess.DEVNULL)
    stale = data / "postmaster.pid"
    if stale.exists() and not _pg_running(bindir, data, as_pg):
        stale.unlink()
    if not _pg_running(bindir, data, as_pg):
        options = f"-c listen_addresses='' -k {run} -c max_connections=200 -c shared_buffers=256MB"
        if fast:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        done = subprocess.run([*as_pg, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(run / "postgres.log"),
                               "-o", options, "-w", "-t", "60", "start"], stdout=subprocess.DEVNULL,
                              start_new_session=True)
        if done.returncode != 0:
            log = (run / "postgres.log").read_text()[-2000:] if (run / "postgres.log").exists() else ""
            raise ServiceError(f"PostgreSQL did not start (see {run / 'postgres.log'}):\n{log}")
    created = subprocess.run([*as_pg, str(bindir / "psql"), "-h", str(run), "-U", "postgres", "-d", "postgres",
                              "-tAc", f"SELECT 1 FROM pg_database WHERE datname = '{database}'"],
                             capture_output=True, text=True, check=True)
    if created.stdout.strip() != "1":
        subprocess.run([*as_pg, str(bindir / "createdb"), "-h", str(run), "-U", "postgres", database], check=True)
    return f"postgresql://postgres@/{database}?host={run}"


def _has_c_utf8() -> bool:
    out = subprocess.run(["locale", "-a"], capture_output=True, text=True).stdout.lower()
    return "c.utf8" in out or "c.utf-8" in out


def _pg_running(bindir: Path, data: Path, as_pg: list[str]) -> bool:
    return subprocess.run([*as_pg, str(bindir / "pg_ctl"), "-D", str(data), "status"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0


def stop_postgres(base: Path) -> None:
    """Stop the cluster in base/pgdata if it runs (fast shutdown)."""
    bindir = postgres_bin()
    data = base.resolve() / "pgdata"
    if data.exists():
        subprocess.run([*_pg_user(), str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _terminate(process: subprocess.Popen | None, grace_s: float = 10) -> None:
    """SIGTERM a child we started, then SIGKILL it if it has not exited after `grace_s` seconds."""
    if process and process.poll() is None:
        process.terminate()
        try:
            process.wait(grace_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Redis:
    """A redis-server child process listening on base/run/redis.sock (nothing kept on disk unless asked)."""

    def __init__(self, base: Path, *, persist: bool = False):
        self.base = base.resolve()
        self.socket = self.base / "run" / "redis.sock"
        self.persist = persist
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def start(self) -> str:
        """Start the server and wait until it accepts connections; return its URL."""
        self.socket.parent.mkdir(parents=True, exist_ok=True)
        args = [redis_server(), "--port", "0", "--unixsocket", str(self.socket), "--unixsocketperm", "700",
                "--dir", str(self.base), "--logfile", str(self.base / "redis.log")]
        args += ["--appendonly", "yes", "--save", "60 1"] if self.persist else ["--save", "", "--appendonly", "no"]
        # Its own session: a Ctrl-C meant for the app processes must not take Redis down under them.
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        start_new_session=True)
        deadline = time.monotonic() + 15
        import socket as _socket
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServiceError(f"redis-server exited with {self.process.returncode}; see {self.base / 'redis.log'}")
            try:
                with _socket.socket(_socket.AF_UNIX) as s:
                    s.connect(str(self.socket))
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return self.url
            except OSError:
                time.sleep(0.05)
        raise ServiceError("redis-server did not answer within 15 s")

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 10 s)."""
        _terminate(self.process)
        self.process = None


def pgbouncer_bin() -> str:
    """Path of pgbouncer, installing Debian's package when absent."""
    def find() -> str | None:
        return shutil.which("pgbouncer") or next(
            (p for p in ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer") if os.access(p, os.X_OK)), None)

    found = find()
    if found is None:
        apt_install(APT_PACKAGES["pgbouncer"])
        found = find()
    if found is None:
        raise ServiceError("pgbouncer not found; install the pgbouncer package")
    return found


class PgBouncer:
    """A pgbouncer child process in transaction pooling mode in front of one PostgreSQL server.

    It listens on 127.0.0.1:<free port> and forwards every database name to the server behind
    `upstream_url` (a Unix-socket or TCP URL) as the same user, with trust authentication (the
    throwaway clusters trust local connections). `pool_size` caps the server connections per
    database; `pools` adds named databases with their own cap ({alias: (dbname, pool_size)}).
    As root it runs as the `postgres` system user (pgbouncer refuses to run as root).
    """

    def __init__(self, base: Path, upstream_url: str, *, pool_size: int = 40,
                 pools: dict[str, tuple[str, int]] | None = None):
        from psycopg.conninfo import conninfo_to_dict

        self.base = base.resolve()
        self.upstream = conninfo_to_dict(upstream_url)
        self.pool_size = pool_size
        self.pools = pools or {}
        self.port = 0
        self.process: subprocess.Popen | None = None

    def url(self, database: str) -> str:
        """URL of `database` through the pooler (same user as the upstream URL)."""
        return f"postgresql://{self.upstream.get('user', 'postgres')}@127.0.0.1:{self.port}/{database}"

    def _server(self) -> str:
        parts = [f"host={self.upstream.get('host', '/var/run/postgresql')}"]
        for key in ("port", "user", "password"):
            if self.upstream.get(key):
                parts.append(f"{key}={self.upstream[key]}")
        return " ".join(parts)

    def start(self) -> "PgBouncer":
        """Write the configuration, start pgbouncer and wait until it accepts connections."""
        import socket as _socket

        self.base.mkdir(parents=True, exist_ok=True)
        _traversable(self.base)
        with _socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        user = self.upstream.get("user", "postgres")
        (self.base / "userlist.txt").write_text(f'"{user}" ""\n')
        databases = [f"{alias} = {self._server()} dbname={dbname} pool_size={size}"
                     for alias, (dbname, size) in self.pools.items()]
        databases.append(f"* = {self._server()}")
        ini = "\n".join([
            "[databases]", *databases, "",
            "[pgbouncer]",
            "listen_addr = 127.0.0.1", f"listen_port = {self.port}", "unix_socket_dir =",
            "auth_type = trust", f"auth_file = {self.base / 'userlist.txt'}",
            "pool_mode = transaction", f"default_pool_size = {self.pool_size}", "max_client_conn = 2000",
            "server_login_retry = 1", "query_wait_timeout = 60",
            f"logfile = {self.base / 'pgbouncer.log'}", f"pidfile = {self.base / 'pgbouncer.pid'}",
            *(["user = postgres"] if _is_root() else []), "",
        ])
        (self.base / "pgbouncer.ini").write_text(ini)
        if _is_root():
            _pg_user()
            for path in (self.base, self.base / "userlist.txt", self.base / "pgbouncer.ini"):
                _chown_pg(path)
        self.process = subprocess.Popen([pgbouncer_bin(), "-q", str(self.base / "pgbouncer.ini")],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = (self.base / "pgbouncer.log").read_text()[-2000:] if (self.base / "pgbouncer.log").exists() else ""
                raise ServiceError(f"pgbouncer exited with {self.process.returncode}:\n{log}")
            try:
                with _socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.05)
        raise ServiceError("pgbouncer did not listen within 15 s")

    def stop(self) -> None:
        """Stop pgbouncer (SIGTERM, then SIGKILL after 10 s)."""
        _terminate(self.process)
        self.process = None


def browser() -> str:
    """Path of Debian's Chromium for the browser tests, installing it when absent."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    apt_install(APT_PACKAGES["chromium"])
    found = shutil.which("chromium")
    if found is None:
        raise ServiceError("chromium not found; install the chromium package")
    return found
