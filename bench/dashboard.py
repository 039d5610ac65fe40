"""Deck benchmark: the 30-day deck and each partial on a year of history, next to the same on a small space.

Usage: .venv-test/bin/python bench/dashboard.py [--clicks 1000000] [--events 10000000] [--runs 15]

1. Starts a private PostgreSQL (fsync off: the load is throwaway; reads are what is timed) and Redis in a temp dir and migrates.
2. Generates two spaces with COPY (rollup triggers off during the load, then deck_rebuild and
   delivery_matrix_rebuild):
   "big": --clicks clicks over 365 days on 12 links and 40 countries, journeys, about --events
   events (repeat contacts, subscriptions, registrations, repeat deposits in USD and EUR) and
   deliveries to two destinations; "small": the same shape with 10K events.
3. Signs in a viewer of each and times, server-side (in-process request → response), the whole
   deck and every partial for "last 30 days": median and p95 of --runs runs after a warm-up.
4. Prints both columns and the ratio big/small; writes bench/results/dashboard.json.

Targets: the 30-day deck < 150 ms at 10M events, and t(10M) / t(10K) <= 3.
"""
import argparse
import json
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
import services  # noqa: E402

from app import close_app, create_app, db as app_db  # noqa: E402
from app.auth import store as auth_store  # noqa: E402
from app.lib import passwords  # noqa: E402

PASSWORD = "bench password 123"
LINKS = [f"creative-{i:02d}" for i in range(12)]
LINK_WEIGHTS = [30, 20, 14, 10, 7, 5, 4, 3, 3, 2, 1, 1]
COUNTRIES = ("US DE BR IN FR GB ES IT MX PL TR ID PH VN TH NG EG PK BD UA RU KZ AR CO CL PE CA AU JP KR "
             "NL BE SE NO FI PT RO CZ HU GR").split()
COUNTRY_WEIGHTS = [max(1, 40 - i) for i in range(len(COUNTRIES))]
PARTIALS = ("funnel", "gauge", "revenue", "map", "attribution", "feed", "matrix")


def generate(conn: psycopg.Connection, space_id: int, clicks: int, events: int, now: datetime, seed: int) -> int:
    """COPY clicks, journeys, events and deliveries for one space; return the number of events written."""
    rng = random.Random(seed)
    # Contacted journeys (60%) carry 1 + floor(Exp) contacts, about mean - 0.5 each; the other
    # stages add 0.4 + 0.15 + 0.05 * 4.5 events per click.
    contact_mean = max(1.5, (events / clicks - 0.775) / 0.6 + 0.5)
    year = 365 * 86400
    now_s = now.timestamp()
    journeys: list[str] = []
    click_lines: list[str] = []
    written = 0
    conn.execute("SET session_replication_role = replica")
    with conn.cursor().copy(
            "COPY events (space_id, event, uid, value, currency, occurred_at_ms, received_at, source, dedup_key)"
            " FROM STDIN") as copy:
        buffer: list[str] = []
        for i in range(clicks):
            uid = f"s{space_id}c{i}"
            t0 = now_s - rng.random() ** 1.3 * year
            link = rng.choices(LINKS, LINK_WEIGHTS)[0]
            country = rng.choices(COUNTRIES, COUNTRY_WEIGHTS)[0]
            click_at = datetime.fromtimestamp(t0, timezone.utc).isoformat()
            click_lines.append(f"{space_id}\t{uid}\t{click_at}\tlanding\t{link}\t{country}\n")
            stages: dict[str, float] = {}
            count = deposits = 0
            revenue: dict[str, float] = {}
            plan: list[tuple[str, float, str, str]] = []
            if rng.random() < 0.6:
                for _ in range(1 + int(rng.expovariate(1 / (contact_mean - 1)) if contact_mean > 1 else 0)):
                    plan.append(("contact", t0 + rng.uniform(5, 3 * 86400), "\\N", "USD"))
            if rng.random() < 0.4:
                plan.append(("subscribed", t0 + rng.uniform(60, 86400), "\\N", "USD"))
            if rng.random() < 0.15:
                plan.append(("registration", t0 + rng.uniform(600, 2 * 86400), "\\N", "USD"))
            if rng.random() < 0.05:
                for _ in range(rng.randint(1, 8)):
                    currency = "EUR" if rng.random() < 0.1 else "USD"
                    plan.append(("deposit", t0 + rng.uniform(3600, 20 * 86400), f"{rng.uniform(10, 500):.2f}", currency))
            for n, (event, t, value, currency) in enumerate(plan):
                t = min(t, now_s - 1)
                ms = int(t * 1000)
                stages[event] = min(stages.get(event, t), t)
                count += 1
                if event == "deposit":
                    deposits += 1
                    revenue[currency] = revenue.get(currency, 0.0) + float(value)
                received = datetime.fromtimestamp(t, timezone.utc).isoformat()
                buffer.append(f"{space_id}\t{event}\t{uid}\t{value}\t{currency}\t{ms}\t{received}\tpost\tb:{uid}:{n}\n")
            written += len(plan)
            stamp = {k: datetime.fromtimestamp(v, timezone.utc).isoformat() for k, v in stages.items()}
            last = max(stages.values()) if stages else None
            journeys.append("\t".join([
                str(space_id), uid, click_at, click_at,
                stamp.get("contact", "\\N"), stamp.get("subscribed", "\\N"), stamp.get("registration", "\\N"),
                stamp.get("deposit", "\\N"),
                datetime.fromtimestamp(last, timezone.utc).isoformat() if last else "\\N",
                str(count), str(deposits), json.dumps({k: f"{v:.6f}" for k, v in revenue.items()}),
            ]) + "\n")
            if len(buffer) >= 50_000:
                copy.write("".join(buffer))
                buffer.clear()
        copy.write("".join(buffer))
    with conn.cursor().copy("COPY clicks (space_id, uid, created_at, source, link_slug, country) FROM STDIN") as copy:
        for start in range(0, len(click_lines), 50_000):
            copy.write("".join(click_lines[start:start + 50_000]))
    with conn.cursor().copy(
            "COPY journeys (space_id, uid, created_at, clicked_at, contact_at, subscribed_at, registration_at,"
            " deposit_at, last_event_at, event_count, deposit_count, revenue) FROM STDIN") as copy:
        for start in range(0, len(journeys), 50_000):
            copy.write("".join(journeys[start:start + 50_000]))
    destinations = [conn.execute(
        "INSERT INTO destinations (space_id, kind, name, config, event_map, created_at)"
        " VALUES (%s, 'webhook', %s, '{}', %s, now()) RETURNING id",
        (space_id, name, json.dumps(mapping))).fetchone()[0]
        for name, mapping in (("Partner webhook", {"deposit": "deposit"}),
                              ("Meta CAPI", {"registration": "CompleteRegistration", "deposit": "Purchase"}))]
    for destination_id, events_mapped in zip(destinations, (["deposit"], ["registration", "deposit"])):
        conn.execute(
            "INSERT INTO deliveries (space_id, event_id, destination_id, event, status, created_at, attempts)"
            " SELECT space_id, id, %(destination)s, event,"
            "   (ARRAY['delivered','delivered','delivered','delivered','delivered','delivered','delivered',"
            "          'delivered','delivered','delivered','delivered','delivered','delivered','delivered',"
            "          'delivered','delivered','delivered','failed','dead','pending'])[1 + (id %% 20)],"
            "   received_at, 1"
            " FROM events WHERE space_id = %(space)s AND event = ANY(%(events)s)",
            {"destination": destination_id, "space": space_id, "events": events_mapped})
    conn.execute("SET session_replication_role = origin")
    conn.execute("INSERT INTO links (space_id, slug, name, kind, target, created_at, updated_at)"
                 " SELECT %s, slug, initcap(replace(slug, '-', ' ')), 'bot', 'bench_bot', now(), now()"
                 " FROM unnest(%s::text[]) AS slug", (space_id, [f"{s}-{space_id}" for s in LINKS]))
    return written


def login(app, email: str):
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token}).status_code == 302
    return client


def time_path(client, path: str, runs: int) -> dict:
    client.get(path)
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(path)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.status_code
    samples.sort()
    return {"median_ms": round(statistics.median(samples), 2),
            "p95_ms": round(samples[min(len(samples) - 1, int(0.95 * len(samples)))], 2)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clicks", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="xt-bench-dashboard-"))
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
        spaces = {}
        with app.app_context():
            with app_db.transaction() as conn:
                user = auth_store.create_user(conn, "viewer@bench.local", passwords.hash_password(PASSWORD))
                for name in sizes:
                    space = conn.execute("INSERT INTO spaces (slug, name) VALUES (%s, %s) RETURNING id, slug",
                                         (name, name.title())).fetchone()
                    auth_store.set_membership(conn, space["id"], user["id"], "viewer")
                    spaces[name] = space
        generated = {}
        for name, (clicks, events) in sizes.items():
            started = time.perf_counter()
            with psycopg.connect(database_url, autocommit=True) as conn:
                written = generate(conn, spaces[name]["id"], clicks, events, now, seed=len(name))
                # Fresh statistics first: planned on the previous space's, the rebuild's joins go quadratic.
                conn.execute("VACUUM ANALYZE")
                conn.execute("SELECT deck_rebuild(%s)", (spaces[name]["id"],))
                conn.execute("SELECT delivery_matrix_rebuild(%s)", (spaces[name]["id"],))
                conn.execute("VACUUM ANALYZE")
            generated[name] = {"clicks": clicks, "events": written, "seconds": round(time.perf_counter() - started, 1)}
            print(f"generated {name}: {clicks:,} clicks, {written:,} events in {generated[name]['seconds']} s",
                  flush=True)
        client = login(app, "viewer@bench.local")
        results: dict[str, dict] = {}
        for name, space in spaces.items():
            paths = {"deck": f"/spaces/{space['slug']}/?range=30d"}
            paths.update({p: f"/spaces/{space['slug']}/partials/{p}?range=30d" for p in PARTIALS})
            results[name] = {label: time_path(client, path, args.runs) for label, path in paths.items()}
        print(f"\n30-day views, server-side ms (median / p95 of {args.runs}); small = {generated['small']['events']:,}"
              f" events, big = {generated['big']['events']:,} events")
        print(f"{'view':<12} {'small':>16} {'big':>16} {'big/small':>10}")
        for label in results["big"]:
            s, b = results["small"][label], results["big"][label]
            ratio = b["median_ms"] / s["median_ms"] if s["median_ms"] else float("inf")
            print(f"{label:<12} {s['median_ms']:>7.1f} / {s['p95_ms']:>6.1f} {b['median_ms']:>7.1f} / {b['p95_ms']:>6.1f}"
                  f" {ratio:>10.2f}")
        deck_big = results["big"]["deck"]["median_ms"]
        deck_ratio = deck_big / results["small"]["deck"]["median_ms"]
        print(f"\ndeck at {generated['big']['events']:,} events: {deck_big:.1f} ms (target < 150 ms: "
              f"{'met' if deck_big < 150 else 'MISSED'}); big/small {deck_ratio:.2f} (target <= 3: "
              f"{'met' if deck_ratio <= 3 else 'MISSED'})")
        out = ROOT / "bench" / "results"
        out.mkdir(exist_ok=True)
        (out / "dashboard.json").write_text(json.dumps({"generated": generated, "results": results}, indent=2))
        close_app(app)
        return 0
    finally:
        redis_server.stop()
        services.stop_postgres(base)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
