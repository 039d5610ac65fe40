"""Ingest benchmark: POST /events against gunicorn as the Procfile runs it, beside its ceilings.

Usage: .venv-test/bin/python bench/ingest.py [--seconds 15] [--connections 64,1] [--profile]
       [--variant NAME:SETTING=VALUE,…] [--compare REV]   (or `make bench-ingest`)

1. Starts a private PostgreSQL (durable settings, as in production) and Redis in a temp dir.
2. Serves, one at a time and each with gunicorn.conf.py (gevent, WEB_CONCURRENCY=2):
   - bench/ceiling_app.py `/hello` (no I/O) and `/insert` (one bare INSERT … RETURNING);
   - wsgi:app POST /events and GET /e, each with a new contact event (new uid, new eid) on every request.
3. Drives each with wrk for the same time at each connection count, then drives POST /events
   again at half its measured rate (first connection count) for the latency target.
4. Prints req/s, p50, p99 and server CPU per request (web + PostgreSQL, from /proc) for each and
   the ratios; with --profile, py-spy's top lines per run; writes bench/results/ingest.json.

Target on 2 cores: POST /events ≥ 4,800 req/s and ≥ the bare INSERT ceiling of the same run;
p99 < 50 ms at half that rate. wrk shares the two cores with the server, so every figure is a
floor; compare the ratios.
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

EVENT_BODY = '{"event":"contact","uid":"u{n}","eid":"e{n}"}'


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", default="64,1",
                        help="comma-separated connection counts; each is driven for --seconds (the first also at half rate)")
    parser.add_argument("--profile", action="store_true",
                        help="sample the web workers with py-spy during each full-rate POST /events and GET /e run"
                             " (bench/results/profiles/)")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME:KEY=VALUE,…",
                        help="also serve this checkout with these settings (e.g. limits-off:INGEST_RATE_LIMIT=off)"
                             " at each connection count, in the same run")
    parser.add_argument("--compare", metavar="REV",
                        help="also serve commit REV (a git worktree, its own migrated database) in the same run")
    args = parser.parse_args()
    counts = [int(c) for c in str(args.connections).split(",") if c.strip()]
    variants = parse_variants(args.variant)
    wrkload.wrk_binary()
    old_root = checkout(args.compare) if args.compare else None
    try:
        return run(args, counts, variants, old_root)
    finally:
        if old_root is not None:
            remove_checkout(old_root)


def scripts(space: dict) -> dict[str, str]:
    """wrk scripts of POST /events and GET /e, a new contact event on every request, with the space's credentials."""
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {space['bearer']}"}
    return {"ingest": wrkload.lua_script("POST", "/events", headers, EVENT_BODY),
            "get_e": wrkload.lua_script("GET", f"/e?token={space['ingest_token']}&event=contact&uid=g{{n}}&eid=g{{n}}")}


def run(args, counts: list[int], variants: dict, old_root) -> int:
    """The benchmark proper (see the module docstring)."""
    with Stack("ingest") as stack, (Stack("ingest-rev", root=old_root) if old_root else nullcontext()) as old:
        env = stack.env
        space = stack.flask_json("space", "create", "Bench")
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        results: dict = {"load_average_before": load_average(), "connections": counts, "variants": variants,
                         "compare": args.compare}

        ceiling = serve("bench.ceiling_app:app", env, port)
        try:
            for c in counts:
                results[f"hello_c{c}"] = drive(url, wrkload.lua_script("GET", "/hello"), seconds=args.seconds,
                                               connections=c, server=ceiling, stack=stack)
                results[f"bare_insert_c{c}"] = drive(url, wrkload.lua_script(
                    "POST", "/insert", {"Content-Type": "application/json"}, EVENT_BODY),
                    seconds=args.seconds, connections=c, server=ceiling, stack=stack)
        finally:
            stop(ceiling)

        web = serve("wsgi:app", env, port)
        try:
            headers = {"Content-Type": "application/json", "Authorization": f"Bearer {space['bearer']}"}
            post, get = scripts(space)["ingest"], scripts(space)["get_e"]
            for c in counts:
                for name, script in (("ingest", post), ("get_e", get)):
                    results[f"{name}_c{c}"] = drive(url, script, seconds=args.seconds, connections=c, server=web,
                                                    stack=stack)
            top = counts[0]
            half = results[f"ingest_c{top}"]["rps"] / 2
            # Each connection waits delay ms between requests: connections / delay ≈ half the rate.
            paced = wrkload.lua_script("POST", "/events", headers, EVENT_BODY.replace("u{n}", "h{n}").replace("e{n}", "f{n}"),
                                       delay_ms=top * 1000 / half)
            results["ingest_half_rate"] = drive(url, paced, seconds=args.seconds, connections=top, server=web,
                                                stack=stack)
            # Profiled runs apart from the measured ones: sampling costs the workers CPU.
            for c in counts if args.profile else ():
                for name, script in (("ingest", post), ("get_e", get)):
                    profile = ROOT / "bench" / "results" / "profiles" / f"{name}-c{c}.raw"
                    results[f"profile_{name}_c{c}"] = drive(url, script, seconds=args.seconds, connections=c,
                                                            server=web, stack=stack, profile=profile)["profile_top"]
        finally:
            stop(web)

        others = [(name, stack, {**env, **overrides}, ROOT, space) for name, overrides in variants.items()]
        if old is not None:
            others.append((f"rev_{args.compare}", old, old.env, old_root, old.flask_json("space", "create", "Bench")))
        for name, other_stack, other_env, root, other_space in others:
            web = serve("wsgi:app", other_env, port, root=root)
            try:
                for c in counts:
                    for kind, script in scripts(other_space).items():
                        results[f"{kind}_{name}_c{c}"] = drive(url, script, seconds=args.seconds, connections=c,
                                                               server=web, stack=other_stack)
            finally:
                stop(web)

        with psycopg.connect(stack.database_url) as conn:
            stored = conn.execute("SELECT count(*) FROM events").fetchone()[0]
        # Every run against this stack's database (not the --compare checkout's).
        sent = args.seconds * sum(r["rps"] for key, r in results.items() if key.startswith(("ingest_", "get_e_"))
                                  and isinstance(r, dict) and "rps" in r and "_rev_" not in key)
        results["events_stored"] = stored
        results["load_average_after"] = load_average()
        results["ratios"] = {}
        for c in counts:
            for name in ("ingest", "get_e"):
                rps = results[f"{name}_c{c}"]["rps"]
                results["ratios"][f"{name}_vs_bare_insert_c{c}"] = round(rps / results[f"bare_insert_c{c}"]["rps"], 3)
                results["ratios"][f"{name}_vs_hello_c{c}"] = round(rps / results[f"hello_c{c}"]["rps"], 3)
        # The first (largest) connection count under the names earlier runs used.
        for name in ("hello", "bare_insert", "ingest"):
            results[name] = results[f"{name}_c{top}"]
        print(f"\n{'endpoint':<22}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'non-2xx':>10}{'CPU ms/req':>12}")
        kinds = ["hello", "bare_insert", "ingest", "get_e"]
        kinds += [f"{k}_{name}" for name in [*variants, *([f"rev_{args.compare}"] if args.compare else [])]
                  for k in ("ingest", "get_e")]
        names = [f"{kind}_c{c}" for c in counts for kind in kinds]
        for name in names + ["ingest_half_rate"]:
            r = results[name]
            print(f"{name:<22}{r['rps']:>10.0f}{r['p50_ms']:>10.2f}{r['p99_ms']:>10.2f}{r['non_2xx']:>10}"
                  f"{r['cpu_ms_per_request']['total']:>12.3f}")
        for c in counts:
            ratios = results["ratios"]
            print(f"{c} connections: POST /events / bare INSERT = {ratios[f'ingest_vs_bare_insert_c{c}']:.2f}, / hello ="
                  f" {ratios[f'ingest_vs_hello_c{c}']:.2f}; GET /e / bare INSERT = {ratios[f'get_e_vs_bare_insert_c{c}']:.2f},"
                  f" / hello = {ratios[f'get_e_vs_hello_c{c}']:.2f}")
        print(f"events stored: {stored} (≈{sent:.0f} requests sent); load average {results['load_average_after']}")
        save("ingest", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
