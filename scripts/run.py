"""`make run`: everything XTRACKER needs, in the foreground, until Ctrl-C.

1. SECRET_KEY: taken from the environment, else read from (or created in) var/secret_key.
2. DATABASE_URL / REDIS_URL: taken from the environment; each one unset gets a private server
   whose data lives under var/ (kept between runs).
3. Migrations, then the demo space, its demo link and the admin login on the very first run;
   those credentials go at once to var/first-run-credentials.txt (mode 0600).
4. The Procfile's processes under supervisord (config generated from the Procfile into
   var/run/supervisord.conf): a process that exits is restarted, with backoff while it keeps
   failing at start; every restart is logged. Each process's output is shown prefixed with its
   name and kept in var/log/<name>.log.
5. Once every process runs and /readyz answers: the first run prints the credentials; a later
   run says where the credentials file is while it exists.
6. On Ctrl-C (or SIGTERM) supervisord stops the processes, then the private servers this run
   started are stopped. A process that supervisord gives up on (FATAL) stops the run too.
"""
import http.client
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import xmlrpc.client
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import services  # noqa: E402

BIN = Path(sys.executable).parent
CREDENTIALS_FILE = "first-run-credentials.txt"
# Seconds a process must stay up to count as started (Python start-up alone takes seconds on a busy
# machine); an exit sooner is retried after 1 s, 2 s, 3 s, … up to START_RETRIES times
# (supervisord's backoff) before it is given up (FATAL).
START_SECONDS = 10
START_RETRIES = 20
READY_TIMEOUT_SECONDS = 180


def secret_key(var: Path) -> str:
    """The persisted development SECRET_KEY (created with 0600 permissions on first run)."""
    path = var / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def write_env_file(var: Path, env: dict) -> None:
    """var/env.sh: the settings of this run and the virtualenv on PATH, so `. var/env.sh` points
    `flask --app wsgi …` at the same databases with XTRACKER's own commands."""
    path = var / "env.sh"
    lines = [f"export {name}='{env[name]}'" for name in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "PUBLIC_URL",
                                                           "ALLOW_PRIVATE_DESTINATIONS")]
    # The virtualenv's bin first, so `flask` is the one with XTRACKER's commands.
    lines.append(f"export PATH='{BIN}':\"$PATH\"")
    path.write_text("# Written by `make run`: `. var/env.sh` before `flask --app wsgi …` in another shell.\n"
                    + "\n".join(lines) + "\n")
    path.chmod(0o600)


def credentials_text(first: dict) -> str:
    """The first run's login, secrets and demo link as printed and as stored in the credentials file."""
    base = first["login_url"].rsplit("/login", 1)[0]
    return "\n".join([
        "XTRACKER first run: a demo space and an admin login were created.",
        f"  login:        {first['login_url']}",
        f"  email:        {first['email']}",
        f"  password:     {first['password']}",
        f"  space:        {first['space']}",
        f"  bearer:       {first['bearer']}",
        f"  ingest token: {first['ingest_token']}",
        f"  demo link:    {first['demo_link']}",
        "Try:",
        f"  curl -X POST {base}/events -H 'Authorization: Bearer {first['bearer']}'"
        " -H 'Content-Type: application/json' -d '{\"event\":\"contact\",\"uid\":\"demo1\"}'",
        "A lost password is reset with `flask --app wsgi user reset-password EMAIL`.",
    ]) + "\n"


def write_credentials(path: Path, text: str) -> None:
    """Create the credentials file readable and writable by its owner only (0600 from the start)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    path.chmod(0o600)


def procfile_programs(procfile: Path) -> list[tuple[str, str]]:
    """(name, command) for each `name: command` line of the Procfile, in order."""
    programs = []
    for line in procfile.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_-]+):\s*(.+)$", line.strip())
        if match and not line.lstrip().startswith("#"):
            programs.append((match.group(1), match.group(2).strip()))
    return programs


def supervisor_command(command: str) -> str:
    """A Procfile command in supervisord's syntax: `$VAR`/`${VAR}` become `%(ENV_VAR)s`, `%` is escaped."""
    command = command.replace("%", "%%")
    return re.sub(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", r"%(ENV_\1)s", command)


def supervisord_config(programs: list[tuple[str, str]], var: Path, password: str) -> str:
    """supervisord's configuration: one [program] per Procfile line, restarted when it exits."""
    run, logs = var / "run", var / "log"
    lines = [
        "; Generated by `make run` from the Procfile on every start; edit the Procfile, not this file.",
        "[supervisord]",
        "nodaemon=true",
        f"logfile={logs / 'supervisord.log'}",
        "logfile_maxbytes=10MB",
        "logfile_backups=2",
        f"pidfile={run / 'supervisord.pid'}",
        f"directory={ROOT}",
        "minfds=256",
        "identifier=xtracker",
    ]
    if os.geteuid() == 0:
        lines.append("user=root")
    lines += [
        "[unix_http_server]",
        f"file={run / 'supervisor.sock'}",
        "chmod=0700",
        "username=xtracker",
        f"password={password}",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
        "[supervisorctl]",
        f"serverurl=unix://{run / 'supervisor.sock'}",
        "username=xtracker",
        f"password={password}",
    ]
    for name, command in programs:
        lines += [
            f"[program:{name}]",
            f"command={supervisor_command(command)}",
            f"directory={ROOT}",
            "autostart=true",
            "autorestart=true",
            f"startsecs={START_SECONDS}",
            f"startretries={START_RETRIES}",
            "stopsignal=TERM",
            "stopwaitsecs=20",
            "stopasgroup=true",
            "killasgroup=true",
            "redirect_stderr=true",
            f"stdout_logfile={logs / (name + '.log')}",
            "stdout_logfile_maxbytes=20MB",
            "stdout_logfile_backups=3",
        ]
    return "\n".join(lines) + "\n"


class Tail(threading.Thread):
    """Prints the lines appended to a log file, prefixed with a name; follows supervisord's rotation."""

    def __init__(self, path: Path, prefix: str, stopping: threading.Event):
        super().__init__(daemon=True, name=f"tail-{prefix.strip()}")
        self.path, self.prefix, self.stopping = path, prefix, stopping
        self.offset = path.stat().st_size if path.exists() else 0

    def run(self) -> None:
        handle, inode = None, None
        while True:
            if handle is None and self.path.exists():
                handle = open(self.path, "r", errors="replace")
                inode = os.fstat(handle.fileno()).st_ino
                handle.seek(min(self.offset, os.fstat(handle.fileno()).st_size))
            if handle is not None:
                for line in handle:
                    sys.stdout.write(f"{self.prefix} | {line if line.endswith(chr(10)) else line + chr(10)}")
                sys.stdout.flush()
                try:
                    rotated = self.path.stat().st_ino != inode
                except FileNotFoundError:
                    rotated = True
                if rotated:
                    handle.close()
                    handle, self.offset = None, 0
                    continue
            if self.stopping.is_set():
                return
            time.sleep(0.1)


def print_lines(stream, prefix: str) -> None:
    """Copy a child's output to ours, prefixed (supervisord's own log)."""
    for line in stream:
        sys.stdout.write(f"{prefix} | {line}")
        sys.stdout.flush()


def supervisor_rpc(socket_path: Path, password: str):
    """A function returning a new XML-RPC proxy to supervisord over its Unix socket (one per call)."""
    from supervisor.xmlrpc import SupervisorTransport
    return lambda: xmlrpc.client.ServerProxy(
        "http://localhost", transport=SupervisorTransport("xtracker", password, f"unix://{socket_path}"))


def process_states(rpc) -> dict[str, str]:
    """{program name: supervisord state name}; {} while supervisord does not answer yet."""
    try:
        return {info["name"]: info["statename"] for info in rpc().supervisor.getAllProcessInfo()}
    except (OSError, xmlrpc.client.Error, http.client.HTTPException):
        return {}


def ready(port: str) -> bool:
    """/readyz answers 200 on the web process."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
            return response.status == 200
    except (OSError, urllib.error.URLError):
        return False


def main() -> int:
    """Start services and processes; return the run's exit code."""
    var = Path(os.environ.get("XT_VAR_DIR", ROOT / "var")).resolve()
    for path in (var, var / "run", var / "log"):
        path.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.setdefault("PORT", "8000")
    env.setdefault("PUBLIC_URL", f"http://localhost:{env['PORT']}")
    # Local development talks to local sinks; production leaves this off.
    env.setdefault("ALLOW_PRIVATE_DESTINATIONS", "1")
    env["PYTHONUNBUFFERED"] = "1"
    # The Procfile names gunicorn and python; they must be the virtualenv's.
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    if not env.get("SECRET_KEY"):
        env["SECRET_KEY"] = secret_key(var)
    credentials = var / CREDENTIALS_FILE
    started_pg = False
    redis = None
    supervisord = None
    stopping = threading.Event()
    interrupted = False

    def forward(signum, frame):
        nonlocal interrupted
        interrupted = True
        # A terminal's Ctrl-C reaches supervisord directly (same process group); a signal sent
        # to this process alone is passed on. supervisord stops every program either way.
        if supervisord is not None and supervisord.poll() is None:
            supervisord.send_signal(signal.SIGTERM if signum == signal.SIGTERM else signal.SIGINT)
        else:
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    try:
        if not env.get("DATABASE_URL"):
            print(f"starting private PostgreSQL in {var / 'pg'}", flush=True)
            env["DATABASE_URL"] = services.start_postgres(var / "pg", database="xtracker")
            started_pg = True
        if not env.get("REDIS_URL"):
            print(f"starting private Redis in {var / 'redis'}", flush=True)
            redis = services.Redis(var / "redis", persist=True)
            env["REDIS_URL"] = redis.start()
        write_env_file(var, env)
        done = subprocess.run([str(BIN / "flask"), "--app", "wsgi", "bootstrap", "--json"], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, text=True)
        if done.returncode != 0:
            print("bootstrap failed; see the message above", file=sys.stderr)
            return 1
        first = json.loads(done.stdout.strip().splitlines()[-1])
        if first.get("created"):
            # Stored before anything else can fail, so a crash below cannot lose them.
            write_credentials(credentials, credentials_text(first))
        else:
            print("XTRACKER is set up (existing data kept).", flush=True)

        programs = procfile_programs(ROOT / "Procfile")
        config = var / "run" / "supervisord.conf"
        password = secrets.token_urlsafe(24)
        config.touch(mode=0o600)
        config.chmod(0o600)
        config.write_text(supervisord_config(programs, var, password))
        width = max(len(name) for name, _ in [*programs, ("supervisor", "")])
        for name, _ in programs:
            Tail(var / "log" / f"{name}.log", name.ljust(width), stopping).start()
        print(f"XTRACKER is starting on {env['PUBLIC_URL']}: {', '.join(n for n, _ in programs)} under supervisord"
              " (Ctrl-C stops everything)", flush=True)
        supervisord = subprocess.Popen([str(BIN / "supervisord"), "-c", str(config)], cwd=ROOT, env=env,
                                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        threading.Thread(target=print_lines, args=(supervisord.stdout, "supervisor".ljust(width)),
                         daemon=True).start()
        code = watch(supervisord, supervisor_rpc(var / "run" / "supervisor.sock", password), env["PORT"],
                     first if first.get("created") else None, credentials, var, lambda: interrupted)
        return code
    except KeyboardInterrupt:
        return 130
    except services.ServiceError as exc:
        print(f"make run cannot start: {exc}", file=sys.stderr)
        return 2
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if supervisord is not None:
            if supervisord.poll() is None:
                supervisord.send_signal(signal.SIGTERM)
            try:
                supervisord.wait(60)
            except subprocess.TimeoutExpired:
                supervisord.kill()
                supervisord.wait()
        stopping.set()
        time.sleep(0.3)  # the last lines of the processes' logs
        if redis is not None:
            redis.stop()
        if started_pg:
            services.stop_postgres(var / "pg")
        if redis is not None or started_pg:
            print("private PostgreSQL and Redis stopped; data kept in", var, flush=True)


def watch(supervisord: subprocess.Popen, rpc, port: str, first: dict | None, credentials: Path, var: Path,
          interrupted) -> int:
    """Wait until every program runs and /readyz answers, say so, then follow supervisord until it stops.

    Returns 0 after Ctrl-C, 1 when a program was given up (FATAL) or supervisord died by itself.
    """
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    announced = False
    while supervisord.poll() is None:
        states = process_states(rpc)
        fatal = [name for name, state in states.items() if state == "FATAL"]
        if fatal and not interrupted():
            print(f"make run: {', '.join(fatal)} kept exiting at start and was given up; see its log above "
                  f"(and {var / 'log'}). Stopping everything.", file=sys.stderr, flush=True)
            supervisord.send_signal(signal.SIGTERM)
            supervisord.wait()
            return 1
        if not announced and states and all(s == "RUNNING" for s in states.values()) and ready(port):
            announced = True
            print(f"XTRACKER is up: {', '.join(sorted(states))} running; /readyz answers on "
                  f"http://127.0.0.1:{port}", flush=True)
            if first is not None:
                print("\n" + credentials_text(first) + f"These are shown once and kept in {credentials} "
                      "(readable only by you): store them, then delete that file.\n", flush=True)
            elif credentials.exists():
                print(f"The first run's login and secrets are still in {credentials}; "
                      "delete it once you have stored them (secrets rotated since are not in it).", flush=True)
        if not announced and time.monotonic() > deadline and not interrupted():
            print(f"make run: not ready after {READY_TIMEOUT_SECONDS} s (processes: {states or 'no answer'}); "
                  "see the logs above", file=sys.stderr, flush=True)
            if first is not None:
                print(f"The first run's login and secrets are in {credentials}.", file=sys.stderr, flush=True)
            deadline = float("inf")
        time.sleep(0.5)
    if not announced and first is not None:
        print(f"The first run's login and secrets are in {credentials}.", flush=True)
    if interrupted():
        return 0
    print(f"make run: supervisord exited with {supervisord.returncode}", file=sys.stderr, flush=True)
    return 1


if __name__ == "__main__":
    sys.exit(main())
