"""Landing benchmark: GET /<slug> against gunicorn as the Procfile runs it, beside the hello-world ceiling.

Usage: .venv-test/bin/python bench/landing.py [--seconds 15] [--connections 64,1] [--profile]
       [--variant NAME:SETTING=VALUE,…] [--compare REV] [--without-rollup-triggers]

1. Starts a private PostgreSQL (durable settings, as in production) and Redis in a temp dir,
   migrates, and creates a space with a bot link through the CLI.
2. Serves, one at a time and each with gunicorn.conf.py (gevent, WEB_CONCURRENCY=2):
   bench/ceiling_app.py `/hello` (no I/O), then wsgi:app.
3. Drives `/hello` and the landing with wrk for the same time at each connection count. Every landing
   request is a new browser (wrk keeps no cookies) at its own client address (X-Forwarded-For
   from the trusted 127.0.0.1, so no visitor meets LANDING_RATE_LIMIT) with an fbclid and utm
   parameters, so each one mints a uid, stores its click and contact event, and publishes on the live feed.
4. Drives the landing again at half its measured rate (at the first connection count) for the latency target.
5. Prints req/s, p50 and p99, the ratios, and the CPU each landing cost the web workers and
   PostgreSQL (from /proc, around each run); with --profile, py-spy's top lines for each full-rate
   landing run (bench/results/profiles/); writes bench/results/landing.json.

Target on 2 cores: ≥ 3,000 landings/s; p99 < 50 ms at half that rate. wrk shares the two cores
with the server and the database, so every figure is a floor; compare the ratios.
"""
import argparse
import sys
from contextlib import nullcontext
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
import wrkload  # noqa: E402
from harness import (ROOT, Stack, checkout, drive, free_port, load_average, parse_variants, remove_checkout,  # noqa: E402
                     save, serve, stop)

BROWSER_UA = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko)"
              " Mobile/15E148 [FBAN/FBIOS;FBAV/470.0.0.38.109]")
LANDING_QUERY = "?fbclid=IwAR3x-_Ab9ZzQ_mixedCASE&utm_source=facebook&utm_campaign=bench&ad_id=120202"


def setup_space(stack: Stack) -> None:
    """The benchmark's space and bot link, made through the CLI of the stack's checkout."""
    space = stack.flask_json("space", "create", "Bench")
    stack.flask_json("link", "create", space["space"], "--slug", "bench", "--kind", "bot", "--target", "xt_bench_bot")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", default="64,1",
                        help="comma-separated connection counts; each is driven for --seconds (the first also at half rate)")
    parser.add_argument("--profile", action="store_true",
                        help="sample the web workers with py-spy during each full-rate landing run"
                             " (bench/results/profiles/landing-c<N>.txt)")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME:KEY=VALUE,…",
                        help="also serve this checkout with these settings (e.g. limits-off:LANDING_RATE_LIMIT=off)"
                             " at each connection count, in the same run")
    parser.add_argument("--compare", metavar="REV",
                        help="also serve commit REV (a git worktree, its own migrated database) in the same run")
    parser.add_argument("--without-rollup-triggers", action="store_true",
                        help="Diagnostic: disable the dashboard's row triggers on clicks, journeys and events in the"
                             " bench database, to show what they cost a landing.")
    args = parser.parse_args()
    counts = [int(c) for c in str(args.connections).split(",") if c.strip()]
    variants = parse_variants(args.variant)
    wrkload.wrk_binary()
    old_root = checkout(args.compare) if args.compare else None
    try:
        with Stack("landing") as stack, (Stack("landing-rev", root=old_root) if old_root else nullcontext()) as old:
            env = stack.env
            if args.without_rollup_triggers:
                with psycopg.connect(stack.database_url, autocommit=True) as conn:
                    for table in ("clicks", "journeys", "events"):
                        conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
            setup_space(stack)
            if old is not None:
                setup_space(old)
            port = free_port()
            url = f"http://127.0.0.1:{port}"
            browser = {"User-Agent": BROWSER_UA}
            landing = wrkload.lua_script("GET", "/bench" + LANDING_QUERY, browser, visitors=True)
            results: dict = {"load_average_before": load_average(), "connections": counts,
                             "variants": variants, "compare": args.compare}

            ceiling = serve("bench.ceiling_app:app", env, port)
            try:
                for c in counts:
                    results[f"hello_c{c}"] = drive(url, wrkload.lua_script("GET", "/hello"), seconds=args.seconds,
                                                   connections=c, server=ceiling, stack=stack)
            finally:
                stop(ceiling)

            web = serve("wsgi:app", env, port)
            try:
                for c in counts:
                    results[f"landing_c{c}"] = drive(url, landing, seconds=args.seconds, connections=c, server=web,
                                                     stack=stack)
                top = counts[0]
                half = results[f"landing_c{top}"]["rps"] / 2
                # Each connection waits delay ms between requests: connections / delay ≈ half the rate.
                paced = wrkload.lua_script("GET", "/bench" + LANDING_QUERY, browser, visitors=True,
                                           delay_ms=top * 1000 / half)
                results["landing_half_rate"] = drive(url, paced, seconds=args.seconds, connections=top, server=web,
                                                     stack=stack)
                # Profiled runs apart from the measured ones: sampling costs the workers CPU.
                for c in counts if args.profile else ():
                    profile = ROOT / "bench" / "results" / "profiles" / f"landing-c{c}.raw"
                    results[f"profile_landing_c{c}"] = drive(url, landing, seconds=args.seconds, connections=c,
                                                             server=web, stack=stack, profile=profile)["profile_top"]
            finally:
                stop(web)

            others = [(name, stack, {**env, **overrides}, ROOT) for name, overrides in variants.items()]
            if old is not None:
                others.append((f"rev_{args.compare}", old, old.env, old_root))
            for name, other_stack, other_env, root in others:
                web = serve("wsgi:app", other_env, port, root=root)
                try:
                    for c in counts:
                        results[f"{name}_c{c}"] = drive(url, landing, seconds=args.seconds, connections=c, server=web,
                                                        stack=other_stack)
                finally:
                    stop(web)

            with psycopg.connect(stack.database_url) as conn:
                results["clicks_stored"] = conn.execute("SELECT count(*) FROM clicks").fetchone()[0]
                results["distinct_uids"] = conn.execute("SELECT count(DISTINCT uid) FROM clicks").fetchone()[0]
                results["contacts_stored"] = conn.execute(
                    "SELECT count(*) FROM events WHERE event = 'contact'").fetchone()[0]
            results["load_average_after"] = load_average()
            results["ratios"] = {f"landing_vs_hello_c{c}": round(results[f"landing_c{c}"]["rps"] / results[f"hello_c{c}"]["rps"], 3)
                                 for c in counts}
            # The figures of the first (largest) connection count under the names earlier runs used.
            results["hello"], results["landing"] = results[f"hello_c{counts[0]}"], results[f"landing_c{counts[0]}"]
            print(f"\n{'endpoint':<22}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'non-2xx':>10}{'CPU ms/req':>12}")
            kinds = ["hello", "landing", *variants, *([f"rev_{args.compare}"] if args.compare else [])]
            for name in [f"{kind}_c{c}" for c in counts for kind in kinds] + ["landing_half_rate"]:
                r = results[name]
                print(f"{name:<22}{r['rps']:>10.0f}{r['p50_ms']:>10.2f}{r['p99_ms']:>10.2f}{r['non_2xx']:>10}"
                      f"{r['cpu_ms_per_request']['total']:>12.3f}")
            for c in counts:
                for kind in kinds[1:]:
                    cpu = results[f"{kind}_c{c}"]["cpu_ms_per_request"]
                    print(f"{c} connections, {kind}: / hello = {results[f'{kind}_c{c}']['rps'] / results[f'hello_c{c}']['rps']:.2f};"
                          f" CPU per landing: web {cpu['web']:.3f} ms + postgres {cpu['postgres']:.3f} ms = {cpu['total']:.3f} ms")
            print(f"clicks stored: {results['clicks_stored']} ({results['distinct_uids']} distinct uids), "
                  f"contact events: {results['contacts_stored']}; load average {results['load_average_after']}")
            results["rollup_triggers"] = not args.without_rollup_triggers
            save("landing-without-rollup-triggers" if args.without_rollup_triggers else "landing", results)
    finally:
        if old_root is not None:
            remove_checkout(old_root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
