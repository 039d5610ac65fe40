"""`make test`: make sure the OS has what the suite needs, then run pytest over all of it.

Missing PostgreSQL or Redis binaries are installed (as root, with apt-get) or reported; the
suite then starts its own throwaway servers. Exit 5 (no tests collected) counts as a failure.
`make test PGBOUNCER=1` runs the same suite through a PgBouncer in transaction mode that the run
starts in front of its PostgreSQL (installing Debian's pgbouncer when missing); tests/conftest.py
reads PGBOUNCER. The focused PgBouncer tests (tests/test_pgbouncer.py) need it in every run.
"""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import services  # noqa: E402


def main(argv: list[str]) -> int:
    """Provision, then run pytest with any extra arguments."""
    try:
        services.pg_partman(services.postgres_bin())
        services.redis_server()
        services.browser()
        services.pgbouncer_bin()
    except services.ServiceError as exc:
        print(f"make test cannot run: {exc}", file=sys.stderr)
        return 2
    if os.environ.get("PGBOUNCER", "").strip().lower() in ("1", "yes", "true"):
        print("make test: every app connection goes through PgBouncer (pool_mode=transaction)", file=sys.stderr)
    code = subprocess.call([sys.executable, "-m", "pytest", *argv], cwd=ROOT)
    if code == 5:
        print("make test: no tests were collected; that is a failure", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
