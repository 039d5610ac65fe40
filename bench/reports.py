"""Reports benchmark: a 90-day report grouped by ad (and every other grouping) on a year of history, next to
the same on a small space.

Usage: .venv-test/bin/python bench/reports.py [--clicks 1000000] [--events 10000000] [--runs 15] [--compare REV]

1. Starts a private PostgreSQL (fsync off) and Redis in a temp dir and migrates.
2. Generates two spaces with the deck benchmark's generator (bench/history.py: set-based SQL,
   triggers off, then the product's rollup rebuild; every click carries a Facebook campaign, ad set
   and ad id: 12 links × 8 ads; 6 campaigns, 48 ad sets, 96 ads), with a cost per ad and day for
   the whole year (a tenth in EUR) and a year of EUR→USD reference rates: "big" (--clicks
   clicks, about --events events) and "small" (10K events).
3. Times GET /reports (Bearer, in-process request → response) for 90 days grouped by ad, by each
   other grouping, by campaign → ad and by two pairs across rollups (campaign → country, ad → hour),
   and GET /reports/cohorts for 30 days: median and p95 of --runs runs after a warm-up.
4. Prints both columns, the ratio big/small and the load average; writes bench/results/reports.json.
   With --compare REV, every request alternates with the same request served by REV's
   app/report/query.py (loaded from git into this process, reading this schema's rollups), and a
   second table puts REV's and the current times and ratios side by side from that one run.

Targets: the 90-day report grouped by ad < 200 ms at 10M events, and t(10M) / t(10K) <= 3 for every
one-level grouping and campaign → ad (the pairs across rollups are shown beside them).
"""
import argparse
import statistics
import subprocess
import sys
import time
import types
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import db as app_db  # noqa: E402
from app.auth import store as auth_store  # noqa: E402
from app.report import build  # noqa: E402
from bench.harness import save  # noqa: E402
from bench.history import Bench, load_average, print_ratios, time_path  # noqa: E402

GROUPINGS = ("ad", "link", "campaign", "adset", "country", "day", "hour", "weekday", "campaign,ad")
# Pairs across the narrow rollups, read from the rollups by every dimension (report_cross_*).
CROSS_PAIRS = ("campaign,country", "ad,hour")


def add_costs_and_rates(conn: psycopg.Connection, space_id: int) -> dict:
    """A cost per ad and day for the whole year (a tenth in EUR) and a year of daily EUR rates."""
    last = conn.execute("SELECT max(created_at)::date FROM clicks WHERE space_id = %s", (space_id,)).fetchone()[0]
    first = last - timedelta(days=366)
    costs = conn.execute(
        "INSERT INTO costs (space_id, day, scope, scope_id, amount, currency, source, updated_at)"
        " SELECT %(space)s, d::date, 'ad', 'ad-' || a, round((random() * 40 + 5)::numeric, 2),"
        "        CASE WHEN a %% 10 = 0 THEN 'EUR' ELSE 'USD' END, 'api', now()"
        " FROM generate_series(%(first)s::date, %(last)s::date, '1 day') AS d, generate_series(0, 95) AS a",
        {"space": space_id, "first": first, "last": last}).rowcount
    conn.execute(
        "INSERT INTO reference_rates (day, currency, per_eur, source, fetched_at)"
        " SELECT d::date, 'USD', 1.05 + 0.05 * sin(extract(doy FROM d)), 'bench', now()"
        " FROM generate_series(%(first)s::date, %(last)s::date, '1 day') AS d ON CONFLICT DO NOTHING",
        {"first": first, "last": last})
    return {"costs": costs}


def query_module_at(rev: str) -> types.ModuleType:
    """REV's app/report/query.py as a module of its own (its imports resolve to the current app)."""
    text = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:app/report/query.py"], capture_output=True,
                          text=True, check=True).stdout
    module = types.ModuleType(f"query_at_{rev}")
    exec(compile(text, f"{rev}:app/report/query.py", "exec"), module.__dict__)
    return module


def time_alternating(client, path: str, runs: int, headers: dict, other: types.ModuleType) -> tuple[dict, dict]:
    """Median and p95 (ms) of `path` served by the current query module and by `other`, request by request in
    turn (which goes first alternates), after a warm-up of each: (current, other)."""
    current = build.query
    samples: dict[str, list[float]] = {"current": [], "other": []}
    try:
        for i in range(runs + 1):
            for name in (("current", "other") if i % 2 else ("other", "current")):
                build.query = current if name == "current" else other
                started = time.perf_counter()
                response = client.get(path, headers=headers)
                elapsed = (time.perf_counter() - started) * 1000
                assert response.status_code == 200, (path, name, response.status_code)
                if i:
                    samples[name].append(elapsed)
    finally:
        build.query = current
    out = []
    for name in ("current", "other"):
        values = sorted(samples[name])
        out.append({"median_ms": round(statistics.median(values), 2),
                    "p95_ms": round(values[min(len(values) - 1, int(0.95 * len(values)))], 2)})
    return out[0], out[1]


def print_compare(rev: str, results: dict, before: dict, title: str) -> None:
    """REV's and the current medians and big/small ratios, side by side."""
    print(f"\n{title}")
    print(f"{'':<18} {rev + ' small':>14} {rev + ' big':>12} {'ratio':>6}   {'small':>8} {'big':>8} {'ratio':>6}")
    for label in results["big"]:
        o_s, o_b = before["small"][label]["median_ms"], before["big"][label]["median_ms"]
        n_s, n_b = results["small"][label]["median_ms"], results["big"][label]["median_ms"]
        print(f"{label:<18} {o_s:>14.1f} {o_b:>12.1f} {o_b / o_s:>6.2f}   {n_s:>8.1f} {n_b:>8.1f} {n_b / n_s:>6.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clicks", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--compare", metavar="REV", default="",
                        help="also time REV's app/report/query.py, request by request in turn with the current one")
    args = parser.parse_args()
    other = query_module_at(args.compare) if args.compare else None
    with Bench("reports") as bench:
        now = datetime.now(timezone.utc)
        generated = bench.fill({"small": (1_000, 10_000), "big": (args.clicks, args.events)}, now,
                               add_costs_and_rates)
        bearers = {}
        with bench.app.app_context():
            with app_db.transaction() as conn:
                for name, space in bench.spaces.items():
                    bearers[name] = auth_store.create_key(conn, space["id"], "bearer", now)
        client = bench.app.test_client()
        today = now.date()
        results: dict[str, dict] = {}
        before: dict[str, dict] = {}
        loads = [load_average()]
        for name in bench.spaces:
            headers = {"Authorization": f"Bearer {bearers[name]}"}
            span = f"from={(today - timedelta(days=89)).isoformat()}&to={today.isoformat()}"
            paths = {g: f"/reports?group_by={g}&{span}" for g in GROUPINGS + CROSS_PAIRS}
            paths["ad csv"] = f"/reports?group_by=ad&{span}&format=csv"
            paths["cohorts 30d"] = (f"/reports/cohorts?from={(today - timedelta(days=29)).isoformat()}"
                                    f"&to={today.isoformat()}")
            if other is None:
                results[name] = {label: time_path(client, path, args.runs, headers) for label, path in paths.items()}
            else:
                results[name], before[name] = {}, {}
                for label, path in paths.items():
                    results[name][label], before[name][label] = time_alternating(client, path, args.runs, headers,
                                                                                 other)
            loads.append(load_average())
        print_ratios(results, f"90-day reports, server-side ms (median / p95 of {args.runs}); small = "
                              f"{generated['small']['events']:,} events, big = {generated['big']['events']:,} events;"
                              f" load average before / after small / after big: {' | '.join(loads)}")
        if other is not None:
            print_compare(args.compare, results, before, f"{args.compare} and the current query module, request by"
                                                         f" request in turn (median ms); load average:"
                                                         f" {' | '.join(loads)}")
        by_ad = results["big"]["ad"]["median_ms"]
        ratio = by_ad / results["small"]["ad"]["median_ms"]
        worst = max(GROUPINGS, key=lambda k: results["big"][k]["median_ms"] / results["small"][k]["median_ms"])
        worst_ratio = results["big"][worst]["median_ms"] / results["small"][worst]["median_ms"]
        print(f"\n90-day report by ad at {generated['big']['events']:,} events: {by_ad:.1f} ms (target < 200 ms: "
              f"{'met' if by_ad < 200 else 'MISSED'}); big/small {ratio:.2f}; worst big/small {worst_ratio:.2f}"
              f" ({worst}) (target <= 3: {'met' if worst_ratio <= 3 else 'MISSED'})")
        save("reports", {"generated": generated, "results": results, "load_average": loads,
                         **({"compare": args.compare, "results_compare": before} if other is not None else {})})
    return 0


if __name__ == "__main__":
    sys.exit(main())
