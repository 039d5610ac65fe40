"""`make run`: everything XTRACKER needs, in the foreground, until Ctrl-C.

1. SECRET_KEY: taken from the environment, else read from (or created in) var/secret_key.
2. DATABASE_URL / REDIS_URL: taken from the environment; each one unset gets a private server
   whose data lives under var/ (kept between runs).
3. Migrations, then the demo space and admin login on the very first run (printed once).
4. The Procfile's processes under honcho, web on PORT (default 8000).
5. On Ctrl-C (or SIGTERM) the processes stop, then the private servers this run started.
"""
import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import services  # noqa: E402

BIN = Path(sys.executable).parent


def secret_key(var: Path) -> str:
    """The persisted development SECRET_KEY (created with 0600 permissions on first run)."""
    path = var / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def write_env_file(var: Path, env: dict) -> None:
    """var/env.sh: the settings of this run, so `. var/env.sh` points the CLI at the same databases."""
    path = var / "env.sh"
    lines = [f"export {name}='{env[name]}'" for name in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "PUBLIC_URL")]
    path.write_text("# Written by `make run`: `. var/env.sh` before `flask --app wsgi …` in another shell.\n"
                    + "\n".join(lines) + "\n")
    path.chmod(0o600)


def main() -> int:
    """Start services and processes; return the processes' exit code."""
    var = Path(os.environ.get("XT_VAR_DIR", ROOT / "var")).resolve()
    var.mkdir(parents=True, exist_ok=True)
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
    started_pg = False
    redis = None
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
        flask = [str(BIN / "flask"), "--app", "wsgi"]
        if subprocess.call([*flask, "bootstrap"], cwd=ROOT, env=env) != 0:
            print("bootstrap failed; see the message above", file=sys.stderr)
            return 1
        print(f"XTRACKER is starting on {env['PUBLIC_URL']} (Ctrl-C stops everything)", flush=True)
        print(f"In another shell, `. {var / 'env.sh'}` points `.venv/bin/flask --app wsgi …` at these databases.",
              flush=True)
        honcho = subprocess.Popen([str(BIN / "honcho"), "start", "-f", "Procfile", "-p", env["PORT"]],
                                  cwd=ROOT, env=env)

        def forward(signum, frame):
            honcho.send_signal(signal.SIGINT)

        # The terminal's Ctrl-C reaches honcho directly; SIGTERM to us is passed on.
        signal.signal(signal.SIGINT, forward)
        signal.signal(signal.SIGTERM, forward)
        code = honcho.wait()
        return 0 if code in (0, -signal.SIGINT, 130) else code
    except services.ServiceError as exc:
        print(f"make run cannot start: {exc}", file=sys.stderr)
        return 2
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if redis is not None:
            redis.stop()
        if started_pg:
            services.stop_postgres(var / "pg")
        if redis is not None or started_pg:
            print("private PostgreSQL and Redis stopped; data kept in", var, flush=True)


if __name__ == "__main__":
    sys.exit(main())
