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

    def __init__(self, name: str, root: Path = ROOT):
        self.root = root
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
            subprocess.run([str(BIN / "flask"), "--app", "wsgi", "db", "migrate"], cwd=self.root, env=self.env,
                           check=True, capture_output=True)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self.redis.stop()
        services.stop_postgres(self.base)
        shutil.rmtree(self.base, ignore_errors=True)

    def postmaster_pid(self) -> int:
        """The pid of this stack's PostgreSQL server."""
        return int((self.base / "pgdata" / "postmaster.pid").read_text().split()[0])

    def flask_json(self, *args: str) -> dict:
        """Run `flask --app wsgi ARGS --json` against the stack and return its JSON."""
        done = subprocess.run([str(BIN / "flask"), "--app", "wsgi", *args, "--json"], cwd=self.root, env=self.env,
                              check=True, capture_output=True, text=True)
        return json.loads(done.stdout)


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve(app_spec: str, env: dict, port: int, *, log: Path | None = None, root: Path = ROOT) -> subprocess.Popen:
    """Start gunicorn with the gunicorn.conf.py of `root` (this checkout) serving `app_spec`; wait until it answers."""
    output = log.open("w") if log else subprocess.DEVNULL
    process = subprocess.Popen([str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", app_spec], cwd=root,
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


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds so far of process `pid` and all its children, those that exited included.

    A child that exited and was waited for adds its time to its parent's cutime/cstime, so a
    postmaster's backends that came and went during a run are still counted.
    """
    ticks = os.sysconf("SC_CLK_TCK")

    def walk(p: int, with_reaped: bool) -> float:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            children = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except OSError:
            return 0.0
        own = int(fields[11]) + int(fields[12]) + (int(fields[13]) + int(fields[14]) if with_reaped else 0)
        return own / ticks + sum(walk(int(c), True) for c in children)

    return walk(pid, True)


def load_average() -> str:
    """The machine's 1/5/15-minute load averages, as /proc/loadavg has them."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def drive(url: str, script: str, *, seconds: int, connections: int, server: subprocess.Popen, stack: "Stack",
          profile: Path | None = None) -> dict:
    """wrk's figures for one run, plus the server CPU per answered request from /proc: the gunicorn
    `server` (master and workers) and the stack's PostgreSQL (postmaster and every backend).

    With `profile`, py-spy samples every worker of that gunicorn during the run and its hottest
    functions go to `profile` (bench/profile.py); sampling costs the workers CPU, so the run's
    own figures are then not comparable.
    """
    import wrkload
    sampler = None
    if profile is not None:
        import profile as profiling
        sampler = profiling.start(server.pid, profile, seconds)
    pids = {"web": server.pid, "postgres": stack.postmaster_pid()}
    before = {name: tree_cpu_seconds(pid) for name, pid in pids.items()}
    result = wrkload.run(url, script, seconds=seconds, connections=connections)
    served = max(result["rps"] * seconds, 1)
    result["cpu_ms_per_request"] = {name: round((tree_cpu_seconds(pid) - before[name]) * 1000 / served, 3)
                                    for name, pid in pids.items()}
    result["cpu_ms_per_request"]["total"] = round(sum(result["cpu_ms_per_request"].values()), 3)
    if sampler is not None:
        result["profile_top"] = profiling.finish(sampler, profile)
    return result


def checkout(rev: str) -> Path:
    """A detached git worktree of `rev` in a temp dir (for --compare: an earlier commit served beside this one)."""
    path = Path(tempfile.mkdtemp(prefix=f"xt-bench-rev-{rev[:12]}-"))
    subprocess.run(["git", "worktree", "add", "--detach", str(path), rev], cwd=ROOT, check=True, capture_output=True)
    return path


def remove_checkout(path: Path) -> None:
    """Remove a worktree made by `checkout`."""
    subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=ROOT, capture_output=True)
    shutil.rmtree(path, ignore_errors=True)


def parse_variants(specs: list[str]) -> dict[str, dict[str, str]]:
    """--variant NAME:KEY=VALUE[,KEY=VALUE…] → {NAME: {KEY: VALUE}}: this checkout served again with those settings."""
    variants = {}
    for spec in specs:
        name, _, assignments = spec.partition(":")
        variants[name] = dict(a.split("=", 1) for a in assignments.split(",") if "=" in a)
    return variants
