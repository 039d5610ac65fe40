"""Reports benchmark: a 90-day report grouped by ad (and every other grouping) on a year of history, next to
the same on a small space.

Usage: .venv/bin/python bench/reports.py [--clicks 1000000] [--events 10000000] [--runs 15]

1. Starts a private PostgreSQL (fsync off) and Redis in a temp dir and migrates.
2. Generates two spaces with the deck benchmark's COPY generator (bench/dashboard.py), then gives
   every click a Facebook campaign, ad set and ad id (12 links × 8 ads; 6 campaigns, 48 ad sets,
   96 ads), a cost per ad and day for the whole year (a tenth in EUR) and a year of EUR→USD
   reference rates, and rebuilds the rollups: "big" (--clicks clicks, about --events events)
   and "small" (10K events).
3. Times GET /reports (Bearer, in-process request → response) for 90 days grouped by ad, by each
   other grouping and by campaign → ad, and GET /reports/cohorts for 30 days: median and p95 of
   --runs runs after a warm-up.
4. Prints both columns and the ratio big/small; writes bench/results/reports.json.

Targets: the 90-day report grouped by ad < 200 ms at 10M events, and t(10M) / t(10K) <= 3.
"""
import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
import services  # noqa: E402

from app import close_app, create_app, db as app_db  # noqa: E402
from app.auth import store as auth_store  # noqa: E402
from bench.dashboard import LINKS, generate  # noqa: E402

GROUPINGS = ("ad", "link", "campaign", "adset", "country", "day", "hour", "weekday", "campaign,ad")


def add_ads_costs_and_rates(conn: psycopg.Connection, space_id: int, now: datetime) -> int:
    """Give every click campaign / ad set / ad ids and names, a cost per ad and day, and daily EUR rates."""
    conn.execute("SET session_replication_role = replica")
    conn.execute(
        "UPDATE clicks SET ad_id = 'ad-' || (l.i * 8 + abs(hashtext(uid)) %% 8),"
        "   ad_name = 'Creative ' || (l.i * 8 + abs(hashtext(uid)) %% 8),"
        "   adset_id = 'set-' || ((l.i * 8 + abs(hashtext(uid)) %% 8) / 2),"
        "   adset_name = 'Audience ' || ((l.i * 8 + abs(hashtext(uid)) %% 8) / 2),"
        "   campaign_id = 'camp-' || (l.i / 2), campaign_name = 'Campaign ' || (l.i / 2)"
        " FROM (SELECT slug, ordinality - 1 AS i FROM unnest(%(links)s::text[]) WITH ORDINALITY AS slug) l"
        " WHERE clicks.space_id = %(space)s AND clicks.link_slug = l.slug",
        {"space": space_id, "links": LINKS})
    conn.execute("SET session_replication_role = origin")
    first = (now - timedelta(days=365)).date()
    costs = conn.execute(
        "INSERT INTO costs (space_id, day, scope, scope_id, amount, currency, source, updated_at)"
        " SELECT %(space)s, d::date, 'ad', 'ad-' || a, round((random() * 40 + 5)::numeric, 2),"
        "        CASE WHEN a %% 10 = 0 THEN 'EUR' ELSE 'USD' END, 'api', now()"
        " FROM generate_series(%(first)s::date, %(last)s::date, '1 day') AS d, generate_series(0, 95) AS a",
        {"space": space_id, "first": first, "last": now.date()}).rowcount
    conn.execute(
        "INSERT INTO reference_rates (day, currency, per_eur, source, fetched_at)"
        " SELECT d::date, 'USD', 1.05 + 0.05 * sin(extract(doy FROM d)), 'bench', now()"
        " FROM generate_series(%(first)s::date, %(last)s::date, '1 day') AS d ON CONFLICT DO NOTHING",
        {"first": first, "last": now.date()})
    return costs


def time_path(client, path: str, headers: dict, runs: int) -> dict:
    client.get(path, headers=headers)
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(path, headers=headers)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (path, response.status_code, response.get_data(as_text=True)[:300])
    samples.sort()
    return {"median_ms": round(statistics.median(samples), 2),
            "p95_ms": round(samples[min(len(samples) - 1, int(0.95 * len(samples)))], 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clicks", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="xt-bench-reports-"))
    redis_server = services.Redis(base)
    database_url = services.start_postgres(base, database="xtracker_bench", fast=True)
    try:
        redis_url = redis_server.start()
        app = create_app({"DATABASE_URL": database_url, "REDIS_URL": redis_url, "SECRET_KEY": "b" * 40,
                          "LOG_LEVEL": "WARNING"}, process="bench")
        now = datetime.now(timezone.utc)
        with psycopg.connect(database_url, autocommit=True) as conn:
            app_db.migrate(conn)
        sizes = {"small": (1_000, 10_000), "big": (args.clicks, args.events)}
        spaces, bearers = {}, {}
        with app.app_context():
            with app_db.transaction() as conn:
                for name in sizes:
                    space = conn.execute("INSERT INTO spaces (slug, name) VALUES (%s, %s) RETURNING id, slug",
                                         (name, name.title())).fetchone()
                    spaces[name] = space
                    bearers[name] = auth_store.create_key(conn, space["id"], "bearer", now)
        generated = {}
        for name, (clicks, events) in sizes.items():
            started = time.perf_counter()
            with psycopg.connect(database_url, autocommit=True) as conn:
                written = generate(conn, spaces[name]["id"], clicks, events, now, seed=len(name))
                costs = add_ads_costs_and_rates(conn, spaces[name]["id"], now)
                conn.execute("VACUUM ANALYZE")
                conn.execute("SELECT deck_rebuild(%s)", (spaces[name]["id"],))
                conn.execute("SELECT report_rebuild(%s)", (spaces[name]["id"],))
                conn.execute("VACUUM ANALYZE")
            generated[name] = {"clicks": clicks, "events": written, "costs": costs,
                               "seconds": round(time.perf_counter() - started, 1)}
            print(f"generated {name}: {clicks:,} clicks, {written:,} events, {costs:,} costs in "
                  f"{generated[name]['seconds']} s", flush=True)
        client = app.test_client()
        today = now.date()
        results: dict[str, dict] = {}
        for name in spaces:
            headers = {"Authorization": f"Bearer {bearers[name]}"}
            span = f"from={(today - timedelta(days=89)).isoformat()}&to={today.isoformat()}"
            paths = {g: f"/reports?group_by={g}&{span}" for g in GROUPINGS}
            paths["ad csv"] = f"/reports?group_by=ad&{span}&format=csv"
            paths["cohorts 30d"] = (f"/reports/cohorts?from={(today - timedelta(days=29)).isoformat()}"
                                    f"&to={today.isoformat()}")
            results[name] = {label: time_path(client, path, headers, args.runs) for label, path in paths.items()}
        print(f"\n90-day reports, server-side ms (median / p95 of {args.runs}); small = "
              f"{generated['small']['events']:,} events, big = {generated['big']['events']:,} events")
        print(f"{'group_by':<14} {'small':>16} {'big':>16} {'big/small':>10}")
        for label in results["big"]:
            s, b = results["small"][label], results["big"][label]
            ratio = b["median_ms"] / s["median_ms"] if s["median_ms"] else float("inf")
            print(f"{label:<14} {s['median_ms']:>7.1f} / {s['p95_ms']:>6.1f} {b['median_ms']:>7.1f} / {b['p95_ms']:>6.1f}"
                  f" {ratio:>10.2f}")
        by_ad = results["big"]["ad"]["median_ms"]
        ratio = by_ad / results["small"]["ad"]["median_ms"]
        print(f"\n90-day report by ad at {generated['big']['events']:,} events: {by_ad:.1f} ms (target < 200 ms: "
              f"{'met' if by_ad < 200 else 'MISSED'}); big/small {ratio:.2f} (target <= 3: "
              f"{'met' if ratio <= 3 else 'MISSED'})")
        out = ROOT / "bench" / "results"
        out.mkdir(exist_ok=True)
        (out / "reports.json").write_text(json.dumps({"generated": generated, "results": results}, indent=2))
        close_app(app)
        return 0
    finally:
        redis_server.stop()
        services.stop_postgres(base)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
