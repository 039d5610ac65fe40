"""Landing benchmark: GET /<slug> against gunicorn as the Procfile runs it, beside the hello-world ceiling.

Usage: .venv-test/bin/python bench/landing.py [--seconds 15] [--connections 64] [--without-rollup-triggers]

1. Starts a private PostgreSQL (durable settings, as in production) and Redis in a temp dir,
   migrates, and creates a space with a bot link through the CLI.
2. Serves, one at a time and each with gunicorn.conf.py (gevent, WEB_CONCURRENCY=2):
   bench/ceiling_app.py `/hello` (no I/O), then wsgi:app.
3. Drives `/hello` and the landing with wrk for the same time and connections. Every landing
   request is a new browser (wrk keeps no cookies) with an fbclid and utm parameters, so each
   one mints a uid, stores its click and contact event, and publishes on the live feed.
4. Drives the landing again at half its measured rate for the latency target.
5. Prints req/s, p50 and p99, the ratios, and the CPU each landing cost the web workers and
   PostgreSQL (from /proc, around the full-rate run); writes bench/results/landing.json.

Target on 2 cores: ≥ 3,000 landings/s; p99 < 50 ms at half that rate. wrk shares the two cores
with the server and the database, so every figure is a floor; compare the ratios.
"""
import argparse
import os
import sys
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
import wrkload  # noqa: E402
from harness import Stack, free_port, save, serve, stop  # noqa: E402

BROWSER_UA = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko)"
              " Mobile/15E148 [FBAN/FBIOS;FBAV/470.0.0.38.109]")
LANDING_QUERY = "?fbclid=IwAR3x-_Ab9ZzQ_mixedCASE&utm_source=facebook&utm_campaign=bench&ad_id=120202"


def cpu_seconds(match) -> float:
    """User + system CPU seconds so far of every process whose command line satisfies `match`."""
    total, ticks = 0.0, os.sysconf("SC_CLK_TCK")
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if match(command):
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / ticks
        except OSError:
            continue
    return total


CPU_GROUPS = {
    "web": lambda command: "gunicorn" in command and "wsgi:app" in command,
    "postgres": lambda command: command.startswith("postgres:") and "xtracker_bench" in command,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--without-rollup-triggers", action="store_true",
                        help="Diagnostic: disable the dashboard's row triggers on clicks, journeys and events in the"
                             " bench database, to show what they cost a landing.")
    args = parser.parse_args()
    wrkload.wrk_binary()
    with Stack("landing") as stack:
        env = stack.env
        if args.without_rollup_triggers:
            with psycopg.connect(stack.database_url, autocommit=True) as conn:
                for table in ("clicks", "journeys", "events"):
                    conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        space = stack.flask_json("space", "create", "Bench")
        stack.flask_json("link", "create", space["space"], "--slug", "bench", "--kind", "bot", "--target", "xt_bench_bot")
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        browser = {"User-Agent": BROWSER_UA}
        results = {}

        ceiling = serve("bench.ceiling_app:app", env, port)
        try:
            results["hello"] = wrkload.run(url, wrkload.lua_script("GET", "/hello"),
                                           seconds=args.seconds, connections=args.connections)
        finally:
            stop(ceiling)

        web = serve("wsgi:app", env, port)
        try:
            landing = wrkload.lua_script("GET", "/bench" + LANDING_QUERY, browser)
            before = {name: cpu_seconds(match) for name, match in CPU_GROUPS.items()}
            results["landing"] = wrkload.run(url, landing, seconds=args.seconds, connections=args.connections)
            served = results["landing"]["rps"] * args.seconds
            results["landing"]["cpu_ms_per_request"] = {
                name: round((cpu_seconds(match) - before[name]) * 1000 / served, 3) for name, match in CPU_GROUPS.items()}
            half = results["landing"]["rps"] / 2
            # Each connection waits delay ms between requests: connections / delay ≈ half the rate.
            paced = wrkload.lua_script("GET", "/bench" + LANDING_QUERY, browser,
                                       delay_ms=args.connections * 1000 / half)
            results["landing_half_rate"] = wrkload.run(url, paced, seconds=args.seconds, connections=args.connections)
        finally:
            stop(web)

        with psycopg.connect(stack.database_url) as conn:
            results["clicks_stored"] = conn.execute("SELECT count(*) FROM clicks").fetchone()[0]
            results["distinct_uids"] = conn.execute("SELECT count(DISTINCT uid) FROM clicks").fetchone()[0]
            results["contacts_stored"] = conn.execute(
                "SELECT count(*) FROM events WHERE event = 'contact'").fetchone()[0]
        results["ratios"] = {"landing_vs_hello": round(results["landing"]["rps"] / results["hello"]["rps"], 3)}
        print(f"\n{'endpoint':<22}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'non-2xx':>10}")
        for name in ("hello", "landing", "landing_half_rate"):
            r = results[name]
            print(f"{name:<22}{r['rps']:>10.0f}{r['p50_ms']:>10.2f}{r['p99_ms']:>10.2f}{r['non_2xx']:>10}")
        print(f"\nlanding / hello = {results['ratios']['landing_vs_hello']:.2f}; target ≥ 3000 landings/s, "
              f"p99 < 50 ms at half rate")
        cpu = results["landing"]["cpu_ms_per_request"]
        print(f"CPU per landing: web {cpu['web']:.3f} ms, postgres {cpu['postgres']:.3f} ms")
        print(f"clicks stored: {results['clicks_stored']} ({results['distinct_uids']} distinct uids), "
              f"contact events: {results['contacts_stored']}")
        results["rollup_triggers"] = not args.without_rollup_triggers
        save("landing-without-rollup-triggers" if args.without_rollup_triggers else "landing", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
