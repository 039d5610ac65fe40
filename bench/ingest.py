"""Ingest benchmark: POST /events against gunicorn as the Procfile runs it, beside its ceilings.

Usage: .venv-test/bin/python bench/ingest.py [--seconds 15] [--connections 64]   (or `make bench-ingest`)

1. Starts a private PostgreSQL (durable settings, as in production) and Redis in a temp dir.
2. Serves, one at a time and each with gunicorn.conf.py (gevent, WEB_CONCURRENCY=2):
   - bench/ceiling_app.py `/hello` (no I/O) and `/insert` (one bare INSERT … RETURNING);
   - wsgi:app POST /events with a new contact event (new uid, new eid) on every request.
3. Drives each with wrk for the same time and connections, then drives POST /events again at
   half its measured rate for the latency target.
4. Prints req/s, p50 and p99 for each and the ratios; writes bench/results/ingest.json.

Target on 2 cores: POST /events ≥ 4,800 req/s and ≥ the bare INSERT ceiling of the same run;
p99 < 50 ms at half that rate. wrk shares the two cores with the server, so every figure is a
floor; compare the ratios.
"""
import argparse
import sys
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
import wrkload  # noqa: E402
from harness import Stack, free_port, save, serve, stop  # noqa: E402

EVENT_BODY = '{"event":"contact","uid":"u{n}","eid":"e{n}"}'


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    wrkload.wrk_binary()
    with Stack("ingest") as stack:
        env = stack.env
        space = stack.flask_json("space", "create", "Bench")
        port = free_port()
        results = {}

        ceiling = serve("bench.ceiling_app:app", env, port)
        try:
            url = f"http://127.0.0.1:{port}"
            results["hello"] = wrkload.run(url, wrkload.lua_script("GET", "/hello"),
                                           seconds=args.seconds, connections=args.connections)
            results["bare_insert"] = wrkload.run(url, wrkload.lua_script(
                "POST", "/insert", {"Content-Type": "application/json"}, EVENT_BODY),
                seconds=args.seconds, connections=args.connections)
        finally:
            stop(ceiling)

        web = serve("wsgi:app", env, port)
        try:
            url = f"http://127.0.0.1:{port}"
            headers = {"Content-Type": "application/json", "Authorization": f"Bearer {space['bearer']}"}
            results["ingest"] = wrkload.run(url, wrkload.lua_script("POST", "/events", headers, EVENT_BODY),
                                            seconds=args.seconds, connections=args.connections)
            half = results["ingest"]["rps"] / 2
            # Each connection waits delay ms between requests: connections / delay ≈ half the rate.
            delay_ms = args.connections * 1000 / half
            paced = wrkload.lua_script("POST", "/events", headers, EVENT_BODY.replace("u{n}", "h{n}").replace("e{n}", "f{n}"),
                                       delay_ms=delay_ms)
            results["ingest_half_rate"] = wrkload.run(url, paced, seconds=args.seconds, connections=args.connections)
        finally:
            stop(web)

        with psycopg.connect(stack.database_url) as conn:
            stored = conn.execute("SELECT count(*) FROM events").fetchone()[0]
        sent = (results["ingest"]["rps"] + results["ingest_half_rate"]["rps"]) * args.seconds
        results["events_stored"] = stored
        results["ratios"] = {
            "ingest_vs_bare_insert": round(results["ingest"]["rps"] / results["bare_insert"]["rps"], 3),
            "ingest_vs_hello": round(results["ingest"]["rps"] / results["hello"]["rps"], 3),
        }
        print(f"\n{'endpoint':<22}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'non-2xx':>10}")
        for name in ("hello", "bare_insert", "ingest", "ingest_half_rate"):
            r = results[name]
            print(f"{name:<22}{r['rps']:>10.0f}{r['p50_ms']:>10.2f}{r['p99_ms']:>10.2f}{r['non_2xx']:>10}")
        print(f"\nPOST /events / bare INSERT = {results['ratios']['ingest_vs_bare_insert']:.2f}; "
              f"POST /events / hello = {results['ratios']['ingest_vs_hello']:.2f}")
        print(f"events stored: {stored} (≈{sent:.0f} requests sent)")
        save("ingest", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
