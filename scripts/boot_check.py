"""The runtime-only boot check: what a new user sees on a fresh machine, run first by CI.

Usage: python3 scripts/boot_check.py [--worktree] [--keep]      (or `make boot-check`)

1. A clean clone of this repository's HEAD (`--worktree`: a copy of the working tree's tracked
   and not-ignored files instead, to check uncommitted changes) in a temporary directory.
2. A fresh runtime-only virtualenv from requirements.txt alone (`make`'s .venv target:
   `pip install --no-deps` of the lock, then `pip check`); its packages must be exactly the lock's.
3. Every module in app/ and jobs/, gunicorn.conf.py, the gunicorn worker class it names, and
   wsgi.py imported with that virtualenv: a missing runtime import anywhere fails here.
4. `make run` as a user runs it (private PostgreSQL and Redis under its own XT_VAR_DIR, a free
   PORT) until every process runs and /readyz answers; then one POST /events with the demo
   space's bearer must answer `queued`, the demo link's landing must redirect with a uid, and the
   first-run credentials file must exist with mode 0600.
5. Ctrl-C (SIGINT to the process group, as a terminal sends it); nothing may be left running.

Any Procfile process that exits (supervisord's "exited:" or "gave up:") fails the check with
the whole `make run` log. Exit 0 on success; 1 with the reason and the log otherwise.
Needs only Python 3.11+, make and git (the same as `make run`).
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT = 300
STOP_TIMEOUT = 90
BROWSER_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
EXIT_LINE = re.compile(r"^supervisor\s*\|.*\b(exited|gave up): (\S+)", re.M)

IMPORT_EVERYTHING = r"""
import importlib, importlib.util, pkgutil, sys
from pathlib import Path
root = Path.cwd()
sys.path.insert(0, str(root))
# gunicorn.conf.py first, as gunicorn reads it: it patches gevent before anything imports psycopg.
spec = importlib.util.spec_from_file_location("gunicorn_conf", root / "gunicorn.conf.py")
conf = importlib.util.module_from_spec(spec)
spec.loader.exec_module(conf)
from gunicorn.util import load_class
load_class(conf.worker_class)          # gunicorn's gevent worker (it imports packaging)
names = []
for package in ("app", "jobs"):
    pkg = importlib.import_module(package)
    names.append(package)
    names += [m.name for m in pkgutil.walk_packages(pkg.__path__, package + ".")]
for name in names:
    importlib.import_module(name)
import wsgi
print(len(names) + 3)
"""


class Failure(Exception):
    """The check failed; the message says what, the log follows."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def step(message: str) -> None:
    print(f"boot-check: {message}", flush=True)


def clone(dest: Path, from_worktree: bool) -> None:
    """A clean clone of HEAD, or a copy of the working tree's tracked and not-ignored files."""
    if from_worktree:
        files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                               capture_output=True, check=True).stdout.split(b"\0")
        for name in filter(None, files):
            source = ROOT / name.decode()
            if source.is_file():
                target = dest / name.decode()
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)
        return
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout.strip()
    subprocess.run(["git", "clone", "-q", "--no-checkout", str(ROOT), str(dest)], check=True)
    subprocess.run(["git", "-c", "advice.detachedHead=false", "checkout", "-q", head], cwd=dest, check=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True,
                           text=True).stdout.strip()
    if dirty:
        step("note: uncommitted changes are not part of the clone (use --worktree to include them)")


def lock_names(lock: Path) -> set[str]:
    """Normalised package names pinned in a pip-compile lock."""
    names = set()
    for line in lock.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==", line)
        if match:
            names.add(re.sub(r"[-_.]+", "-", match.group(1)).lower())
    return names


def build_runtime_venv(repo: Path, env: dict) -> None:
    """make's runtime venv target; then its installed packages must be exactly the lock's (plus pip)."""
    done = subprocess.run(["make", "--no-print-directory", ".venv/.run-deps"], cwd=repo, env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise Failure("building the runtime virtualenv from requirements.txt failed:\n" + done.stdout[-4000:]
                      + done.stderr[-4000:])
    listed = subprocess.run([str(repo / ".venv/bin/python"), "-m", "pip", "list", "--format=json"], cwd=repo,
                            capture_output=True, text=True, check=True)
    installed = {re.sub(r"[-_.]+", "-", p["name"]).lower() for p in json.loads(listed.stdout)} - {"pip"}
    expected = lock_names(repo / "requirements.txt")
    if installed != expected:
        raise Failure(f"the runtime virtualenv is not exactly the lock: extra {sorted(installed - expected)}, "
                      f"missing {sorted(expected - installed)}")
    step(f"runtime virtualenv holds exactly the {len(expected)} packages of requirements.txt; pip check is clean")


def import_everything(repo: Path, env: dict) -> None:
    """Import every module of app/ and jobs/, gunicorn.conf.py, its worker class and wsgi.py."""
    settings = {"DATABASE_URL": "postgresql://boot-check@127.0.0.1:9/boot_check", "REDIS_URL": "redis://127.0.0.1:9/0",
                "SECRET_KEY": "boot-check-" + "k" * 40}
    done = subprocess.run([str(repo / ".venv/bin/python"), "-c", IMPORT_EVERYTHING], cwd=repo,
                          env={**env, **settings}, capture_output=True, text=True, timeout=180)
    if done.returncode != 0:
        raise Failure("importing the code with the runtime virtualenv failed:\n" + done.stderr[-6000:])
    step(f"imported {done.stdout.strip().splitlines()[-1]} modules with the runtime virtualenv")


class MakeRun:
    """`make run` in its own process group (as in a terminal), its output collected."""

    def __init__(self, repo: Path, env: dict):
        self.lines: list[str] = []
        self.process = subprocess.Popen(["make", "--no-print-directory", "run"], cwd=repo, env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                        start_new_session=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def log(self) -> str:
        return "".join(self.lines)

    def check_no_exit(self) -> None:
        """Fail when supervisord reported a Procfile process exiting (anything but a requested stop)."""
        found = EXIT_LINE.search(self.log)
        if found:
            raise Failure(f"Procfile process {found.group(2).strip(chr(39) + ',')} exited: {found.group(0).strip()}")
        if self.process.poll() is not None:
            raise Failure(f"make run exited with {self.process.returncode} before it was stopped")

    def wait_up(self, port: int) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            self.check_no_exit()
            if "XTRACKER is up" in self.log and "demo link:" in self.log:
                return
            time.sleep(0.5)
        raise Failure(f"make run did not report every process up with /readyz answering within {READY_TIMEOUT} s")

    def ctrl_c(self) -> int:
        os.killpg(self.process.pid, signal.SIGINT)
        try:
            code = self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise Failure(f"make run did not stop within {STOP_TIMEOUT} s of Ctrl-C") from None
        self.reader.join(5)
        return code


def field(log: str, name: str) -> str:
    found = re.search(rf"^\s*{name}:\s+(\S+)", log, re.M)
    if not found:
        raise Failure(f"the first-run output has no {name!r} line")
    return found.group(1)


def exercise(run: MakeRun, port: int, var: Path) -> None:
    """One event answered queued, the demo landing redirecting with a uid, the credentials file 0600."""
    base = f"http://127.0.0.1:{port}"
    bearer = field(run.log, "bearer")
    request = urllib.request.Request(base + "/events", method="POST", headers={
        "Authorization": f"Bearer {bearer}", "Content-Type": "application/json"},
        data=json.dumps({"event": "deposit", "uid": "boot-check", "value": "1.00", "currency": "USD",
                         "eid": "boot-check-1"}).encode())
    with urllib.request.urlopen(request, timeout=10) as response:
        answer = json.loads(response.read())
    if answer.get("status") != "queued":
        raise Failure(f"POST /events answered {answer}, not queued")
    step(f"POST /events with the demo bearer answered {answer['status']!r}")

    demo = field(run.log, "demo link").replace("http://localhost", "http://127.0.0.1")

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        response = opener.open(urllib.request.Request(demo, headers={"User-Agent": BROWSER_UA}), timeout=10)
        status, location = response.status, response.headers.get("Location", "")
    except urllib.error.HTTPError as exc:
        status, location = exc.code, exc.headers.get("Location", "")
    if status not in (301, 302, 303, 307) or not re.search(r"uid=[A-Za-z0-9_-]{8,}", location):
        raise Failure(f"the demo link {demo} answered {status} to {location!r}, not a redirect carrying a uid")
    step(f"the demo link's landing answered {status} to {location}")

    credentials = var / "first-run-credentials.txt"
    if not credentials.exists() or credentials.stat().st_mode & 0o777 != 0o600:
        raise Failure(f"{credentials} is missing or not mode 0600")
    if bearer not in credentials.read_text():
        raise Failure(f"{credentials} does not hold the printed bearer")
    step(f"first-run credentials kept in {credentials.name} (mode 0600)")


def leftovers(paths: list[Path]) -> list[str]:
    """Processes whose command line or working directory lies under one of `paths`."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(proc / "cwd")
        except OSError:
            continue
        if any(str(p) in cmdline or cwd == str(p) or cwd.startswith(str(p) + "/") for p in paths):
            found.append(f"{proc.name}: {cmdline.strip()[:200]} (cwd {cwd})")
    return found


def cleanup(repo: Path, var: Path) -> None:
    """After a failure: stop the private PostgreSQL and end whatever else of this check still runs."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import services
    if (var / "pg" / "pgdata").exists():
        services.stop_postgres(var / "pg")
    for entry in leftovers([repo, var]):
        try:
            os.kill(int(entry.split(":", 1)[0]), signal.SIGKILL)
        except OSError:
            pass


def main(argv: list[str]) -> int:
    keep = "--keep" in argv
    work = Path(tempfile.mkdtemp(prefix="xt-boot-check-"))
    repo, var = work / "repo", work / "var"
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "VIRTUAL_ENV", "PYTHONPATH", "MAKEFLAGS",
                        "MAKELEVEL", "PORT", "PUBLIC_URL", "WEB_CONCURRENCY")}
    env["PYTHON"] = os.environ.get("PYTHON", "python3")
    run = None
    started = time.monotonic()
    try:
        step(f"cloning into {repo}")
        repo.mkdir(parents=True)
        clone(repo, "--worktree" in argv)
        build_runtime_venv(repo, env)
        import_everything(repo, env)
        step(f"make run with XT_VAR_DIR={var} PORT={port}")
        run = MakeRun(repo, {**env, "XT_VAR_DIR": str(var), "PORT": str(port)})
        run.wait_up(port)
        step("every Procfile process runs and /readyz answers")
        exercise(run, port, var)
        run.check_no_exit()
        code = run.ctrl_c()
        if EXIT_LINE.search(run.log):
            run.check_no_exit()
        if "private PostgreSQL and Redis stopped" not in run.log:
            raise Failure(f"make run exited with {code} without stopping its private databases")
        time.sleep(1)
        left = leftovers([repo, var])
        if left:
            raise Failure("processes left running after Ctrl-C:\n  " + "\n  ".join(left))
        step(f"Ctrl-C stopped everything (make exited {code}); nothing left running")
        step(f"passed in {time.monotonic() - started:.0f} s")
        return 0
    except Failure as exc:
        print(f"\nboot-check FAILED: {exc}", file=sys.stderr, flush=True)
        if run is not None:
            if run.process.poll() is None:
                try:
                    run.ctrl_c()
                except Failure:
                    os.killpg(run.process.pid, signal.SIGKILL)
            print("\n----- make run log -----\n" + run.log + "----- end of make run log -----", file=sys.stderr)
            for log in sorted((var / "log").glob("*.log")) if (var / "log").exists() else []:
                print(f"(kept: {log})", file=sys.stderr)
        keep = True
        return 1
    finally:
        if run is not None and run.process.poll() is None:
            os.killpg(run.process.pid, signal.SIGKILL)
        cleanup(repo, var)
        if keep:
            print(f"boot-check: files kept in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
