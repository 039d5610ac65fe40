"""A year of history for the read benchmarks (bench/dashboard.py, bench/reports.py), generated in PostgreSQL.

One set-based generator, so 10M events take minutes, not an hour of Python rows and COPY:
1. `generate` writes clicks, events, journeys and deliveries with INSERT … SELECT over
   generate_series and random() (setseed: the same seed gives the same history), with every
   trigger off (session_replication_role = replica): no deltas are appended during the load.
2. `Bench.fill` then runs the product's own rebuilds (deck_rebuild, delivery_matrix_rebuild,
   report_rebuild), the folds a time-zone change runs, so the rollups the benchmarks read are
   exactly what the product computes from those rows.
Shape: --clicks clicks over 365 days (skewed to recent days) on 12 links (8 Facebook ads each: 6
campaigns, 48 ad sets, 96 ads) and 40 countries; 60% of people contact (1 + Exp contacts), 40%
subscribe, 15% register, 5% deposit 1–8 times (a tenth in EUR); journeys are the events' summary.
"""
import contextlib
import json
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Callable

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import services  # noqa: E402

from app import close_app, create_app, db as app_db  # noqa: E402
from bench.harness import load_average  # noqa: E402

LINKS = [f"creative-{i:02d}" for i in range(12)]
LINK_WEIGHTS = [30, 20, 14, 10, 7, 5, 4, 3, 3, 2, 1, 1]
ADS_PER_LINK = 8
COUNTRIES = ("US DE BR IN FR GB ES IT MX PL TR ID PH VN TH NG EG PK BD UA RU KZ AR CO CL PE CA AU JP KR "
             "NL BE SE NO FI PT RO CZ HU GR").split()
COUNTRY_WEIGHTS = [max(1, 40 - i) for i in range(len(COUNTRIES))]


def _thresholds(weights: list[int]) -> list[float]:
    """Cumulative bounds in [0, 1) for width_bucket: bucket i is chosen with probability weights[i] / sum."""
    total, bounds, running = sum(weights), [], 0
    for w in weights[:-1]:
        running += w
        bounds.append(running / total)
    return bounds


@contextlib.contextmanager
def _secondary_indexes_dropped(conn: psycopg.Connection, tables: tuple[str, ...]):
    """Drop the tables' indexes but their primary keys, and create them again (as the migrations define
    them) on leaving: one sort per index instead of millions of inserts into each."""
    indexes = conn.execute(
        "SELECT i.indexname, i.indexdef FROM pg_indexes i"
        " JOIN pg_class c ON c.relname = i.indexname JOIN pg_index x ON x.indexrelid = c.oid"
        " WHERE i.schemaname = 'public' AND i.tablename = ANY(%s) AND NOT x.indisprimary"
        "   AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = x.indexrelid)",
        (list(tables),)).fetchall()
    for name, _ in indexes:
        conn.execute(f'DROP INDEX "{name}"')
    try:
        yield
    finally:
        for _, definition in indexes:
            conn.execute(definition)


def generate(conn: psycopg.Connection, space_id: int, clicks: int, events: int, now: datetime, seed: int) -> int:
    """Write one space's clicks, events, journeys and deliveries (triggers off); return the number of events."""
    with _secondary_indexes_dropped(conn, ("clicks", "events", "journeys")):
        return _generate(conn, space_id, clicks, events, now, seed)


def _generate(conn: psycopg.Connection, space_id: int, clicks: int, events: int, now: datetime, seed: int) -> int:
    # Contacted people (60%) send 1 + floor(Exp) contacts, about mean - 0.5 each; the other stages add
    # 0.4 + 0.15 + 0.05 * 4.5 events per click.
    contact_mean = max(1.5, (events / clicks - 0.775) / 0.6 + 0.5)
    params = {"space": space_id, "clicks": clicks, "now": now, "links": LINKS, "countries": COUNTRIES,
              "link_bounds": _thresholds(LINK_WEIGHTS), "country_bounds": _thresholds(COUNTRY_WEIGHTS),
              "ads": ADS_PER_LINK, "extra": contact_mean - 1}
    conn.execute("SET session_replication_role = replica")
    conn.execute("SELECT setseed(%s)", (1 / (seed + 1),))
    conn.execute("DROP TABLE IF EXISTS bench_people")
    conn.execute(
        "CREATE TEMP TABLE bench_people AS"
        " SELECT 's' || %(space)s || 'c' || i AS uid,"
        "        %(now)s::timestamptz - random() ^ 1.3 * interval '365 days' AS t0,"
        "        width_bucket(random(), %(link_bounds)s::float8[]) AS link_i,"
        "        width_bucket(random(), %(country_bounds)s::float8[]) + 1 AS country_i,"
        "        floor(random() * %(ads)s)::int AS ad_k,"
        "        CASE WHEN random() < 0.6 THEN 1 + floor(-ln(1 - random()) * %(extra)s)::int ELSE 0 END AS contacts,"
        "        random() < 0.4 AS subscribes, random() < 0.15 AS registers,"
        "        CASE WHEN random() < 0.05 THEN 1 + floor(random() * 8)::int ELSE 0 END AS deposits"
        " FROM generate_series(0, %(clicks)s - 1) AS i", params)
    conn.execute(
        "INSERT INTO clicks (space_id, uid, created_at, source, link_slug, country, campaign_id, campaign_name,"
        "                    adset_id, adset_name, ad_id, ad_name)"
        " SELECT %(space)s, uid, t0, 'landing', (%(links)s::text[])[link_i + 1], (%(countries)s::text[])[country_i],"
        "        'camp-' || link_i / 2, 'Campaign ' || link_i / 2,"
        "        'set-' || (link_i * %(ads)s + ad_k) / 2, 'Audience ' || (link_i * %(ads)s + ad_k) / 2,"
        "        'ad-' || link_i * %(ads)s + ad_k, 'Creative ' || link_i * %(ads)s + ad_k"
        " FROM bench_people", params)
    # Each stage's events: (event, how many for this person, delay range in seconds, value, currency).
    written = conn.execute(
        "INSERT INTO events (space_id, event, uid, value, currency, occurred_at_ms, received_at, source, dedup_key)"
        " SELECT %(space)s, s.event, p.uid, s.value, s.currency, (extract(epoch FROM s.at) * 1000)::bigint, s.at,"
        "        'post', 'b:' || p.uid || ':' || s.event || ':' || s.k"
        " FROM bench_people p"
        " CROSS JOIN LATERAL ("
        "   SELECT 'contact' AS event, k, least(p.t0 + (5 + random() * (3 * 86400 - 5)) * interval '1 second',"
        "          %(now)s::timestamptz - interval '1 second') AS at, NULL::numeric AS value, 'USD' AS currency"
        "   FROM generate_series(1, p.contacts) AS k"
        "   UNION ALL SELECT 'subscribed', 1, least(p.t0 + (60 + random() * (86400 - 60)) * interval '1 second',"
        "          %(now)s::timestamptz - interval '1 second'), NULL, 'USD' WHERE p.subscribes"
        "   UNION ALL SELECT 'registration', 1, least(p.t0 + (600 + random() * (2 * 86400 - 600)) * interval '1 second',"
        "          %(now)s::timestamptz - interval '1 second'), NULL, 'USD' WHERE p.registers"
        "   UNION ALL SELECT 'deposit', k, least(p.t0 + (3600 + random() * (20 * 86400 - 3600)) * interval '1 second',"
        "          %(now)s::timestamptz - interval '1 second'), round((10 + random() * 490)::numeric, 2),"
        "          CASE WHEN random() < 0.1 THEN 'EUR' ELSE 'USD' END"
        "   FROM generate_series(1, p.deposits) AS k"
        " ) s", params).rowcount
    conn.execute(
        "INSERT INTO journeys (space_id, uid, created_at, clicked_at, contact_at, subscribed_at, registration_at,"
        "                      deposit_at, last_event_at, event_count, deposit_count, revenue)"
        " SELECT %(space)s, p.uid, p.t0, p.t0, e.contact_at, e.subscribed_at, e.registration_at, e.deposit_at,"
        "        e.last_at, coalesce(e.n, 0), coalesce(e.deposits, 0), coalesce(r.revenue, '{}')"
        " FROM bench_people p"
        " LEFT JOIN (SELECT uid, min(received_at) FILTER (WHERE event = 'contact') AS contact_at,"
        "                   min(received_at) FILTER (WHERE event = 'subscribed') AS subscribed_at,"
        "                   min(received_at) FILTER (WHERE event = 'registration') AS registration_at,"
        "                   min(received_at) FILTER (WHERE event = 'deposit') AS deposit_at,"
        "                   max(received_at) AS last_at, count(*) AS n, count(*) FILTER (WHERE event = 'deposit') AS deposits"
        "            FROM events WHERE space_id = %(space)s GROUP BY uid) e ON e.uid = p.uid"
        " LEFT JOIN (SELECT uid, jsonb_object_agg(currency, to_char(amount, 'FM999999999990.000000')) AS revenue"
        "            FROM (SELECT uid, currency, sum(value) AS amount FROM events"
        "                  WHERE space_id = %(space)s AND event = 'deposit' GROUP BY uid, currency) d"
        "            GROUP BY uid) r ON r.uid = p.uid", params)
    conn.execute("DROP TABLE bench_people")
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
            "   CASE id %% 20 WHEN 17 THEN 'failed' WHEN 18 THEN 'dead' WHEN 19 THEN 'pending' ELSE 'delivered' END,"
            "   received_at, 1"
            " FROM events WHERE space_id = %(space)s AND event = ANY(%(events)s)",
            {"destination": destination_id, "space": space_id, "events": events_mapped})
    conn.execute("SET session_replication_role = origin")
    conn.execute("INSERT INTO links (space_id, slug, name, kind, target, created_at, updated_at)"
                 " SELECT %s, slug, initcap(replace(slug, '-', ' ')), 'bot', 'bench_bot', now(), now()"
                 " FROM unnest(%s::text[]) AS slug", (space_id, [f"{s}-{space_id}" for s in LINKS]))
    return written


class Bench:
    """A private PostgreSQL (fsync off: the load is throwaway; reads are what is timed) and Redis in a temp
    dir, migrated, and the app on them; spaces "small" (10K events) and "big" filled by `fill`.

    Use as a context manager.
    """

    def __init__(self, name: str):
        self.base = Path(tempfile.mkdtemp(prefix=f"xt-bench-{name}-"))
        self.redis = services.Redis(self.base)
        self.database_url = ""
        self.app = None
        self.spaces: dict[str, dict] = {}
        self.generated: dict[str, dict] = {}

    def __enter__(self) -> "Bench":
        try:
            self.database_url = services.start_postgres(self.base, database="xtracker_bench", fast=True)
            redis_url = self.redis.start()
            self.app = create_app({"DATABASE_URL": self.database_url, "REDIS_URL": redis_url,
                                   "SECRET_KEY": "b" * 40, "LOG_LEVEL": "WARNING"}, process="bench")
            with psycopg.connect(self.database_url, autocommit=True) as conn:
                app_db.migrate(conn)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        if self.app is not None:
            close_app(self.app)
        self.redis.stop()
        services.stop_postgres(self.base)
        shutil.rmtree(self.base, ignore_errors=True)

    def fill(self, sizes: dict[str, tuple[int, int]], now: datetime,
             extra: Callable[[psycopg.Connection, int], dict] | None = None) -> dict[str, dict]:
        """Create a space per size name ((clicks, events)), generate its history, run `extra(conn, space_id)`
        (its dict joins the figures), then the product's rollup rebuild; return the figures per space."""
        for name, (clicks, events) in sizes.items():
            started = time.perf_counter()
            with psycopg.connect(self.database_url, autocommit=True) as conn:
                self.spaces[name] = conn.execute(
                    "INSERT INTO spaces (slug, name) VALUES (%s, %s) RETURNING id, slug",
                    (name, name.title())).fetchone()
                space_id = self.spaces[name][0]
                written = generate(conn, space_id, clicks, events, now, seed=len(name))
                more = extra(conn, space_id) if extra else {}
                # Fresh statistics first: planned on the previous space's, the rebuild's joins go quadratic.
                conn.execute("VACUUM ANALYZE")
                loaded = time.perf_counter()
                conn.execute("SELECT deck_rebuild(%s)", (space_id,))
                conn.execute("SELECT delivery_matrix_rebuild(%s)", (space_id,))
                conn.execute("SELECT report_rebuild(%s)", (space_id,))
                conn.execute("VACUUM ANALYZE")
            self.spaces[name] = {"id": space_id, "slug": self.spaces[name][1]}
            self.generated[name] = {"clicks": clicks, "events": written, **more,
                                    "load_seconds": round(loaded - started, 1),
                                    "rebuild_seconds": round(time.perf_counter() - loaded, 1)}
            print(f"generated {name}: {self.generated[name]} (load average {load_average()})", flush=True)
        return self.generated


def time_path(client, path: str, runs: int, headers: dict | None = None) -> dict:
    """Median and p95 (ms) of `runs` GETs of `path` after one warm-up; every answer must be 200."""
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


def print_ratios(results: dict[str, dict], title: str) -> None:
    """Print each label's small and big median / p95 and big/small, side by side."""
    print(f"\n{title}")
    print(f"{'':<14} {'small':>16} {'big':>16} {'big/small':>10}")
    for label in results["big"]:
        s, b = results["small"][label], results["big"][label]
        ratio = b["median_ms"] / s["median_ms"] if s["median_ms"] else float("inf")
        print(f"{label:<14} {s['median_ms']:>7.1f} / {s['p95_ms']:>6.1f} {b['median_ms']:>7.1f} / {b['p95_ms']:>6.1f}"
              f" {ratio:>10.2f}")
