"""What every benchmark needs: a private PostgreSQL and Redis, the CLI, and gunicorn as the Procfile runs it."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT / "scripts"))
import services  # noqa: E402


class Stack:
    """Private PostgreSQL (durable settings, as in production) and Redis in a temp dir, migrated.

    Use as a context manager; `env` carries every setting a process of XTRACKER needs.
    """

    def __init__(self, name: str):
        self.base = Path(tempfile.mkdtemp(prefix=f"xt-bench-{name}-"))
        self.redis = services.Redis(self.base)
        self.database_url = ""
        self.env: dict[str, str] = {}

    def __enter__(self) -> "Stack":
        try:
            self.database_url = services.start_postgres(self.base, database="xtracker_bench")
            self.env = {**os.environ, "DATABASE_URL": self.database_url, "REDIS_URL": self.redis.start(),
                        "SECRET_KEY": "bench-" + "k" * 40, "WEB_CONCURRENCY": os.environ.get("WEB_CONCURRENCY", "2"),
                        "LOG_LEVEL": "WARNING"}
            subprocess.run([str(BIN / "flask"), "--app", "wsgi", "db", "migrate"], cwd=ROOT, env=self.env,
                           check=True, capture_output=True)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self.redis.stop()
        services.stop_postgres(self.base)
        shutil.rmtree(self.base, ignore_errors=True)

    def flask_json(self, *args: str) -> dict:
        """Run `flask --app wsgi ARGS --json` against the stack and return its JSON."""
        done = subprocess.run([str(BIN / "flask"), "--app", "wsgi", *args, "--json"], cwd=ROOT, env=self.env,
                              check=True, capture_output=True, text=True)
        return json.loads(done.stdout)


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve(app_spec: str, env: dict, port: int, *, log: Path | None = None) -> subprocess.Popen:
    """Start gunicorn with the project's gunicorn.conf.py serving `app_spec`; wait until it answers."""
    output = log.open("w") if log else subprocess.DEVNULL
    process = subprocess.Popen([str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", app_spec], cwd=ROOT,
                               env={**env, "PORT": str(port)}, stdout=output, stderr=subprocess.STDOUT,
                               start_new_session=True)
    probe = "/healthz" if app_spec == "wsgi:app" else "/hello"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}{probe}", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.2)
    stop(process)
    raise RuntimeError(f"gunicorn serving {app_spec} did not start" + (f" (see {log})" if log else ""))


def stop(process: subprocess.Popen) -> None:
    """Stop a server started by `serve` (its whole process group)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(20)


def save(name: str, results: dict) -> Path:
    """Write results to bench/results/<name>.json and return the path."""
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    path = out / f"{name}.json"
    path.write_text(json.dumps(results, indent=2))
    return path
