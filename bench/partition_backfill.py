"""Online migration of a large received log into its time partitions, with writes going on.

Usage: .venv-test/bin/python bench/partition_backfill.py [--rows 1000000] [--batch 5000] [--seconds 5] [--firehose]

--firehose runs the same procedure for migration 0026 instead: --rows events and --rows / 4 clicks
(migrated to 0025, then 0026, which also copies every event's dedup key), the writer recording
one event per statement through the ingest statement (record_events); its baseline is taken after
the migration, before the backfill.

1. Starts a private PostgreSQL (durable settings, as in production) in a temp dir, migrates it
   to 0018 (before the partitions), and fills received_requests with --rows rows over the last
   30 days (the copy).
2. Baseline: a writer inserts received-log rows one by one (autocommit, as the capture writer's
   smallest batch) for --seconds and records each insert's latency.
3. Applies migration 0019 and times it (a log above 100,000 rows is only renamed: metadata).
4. Runs scripts/partition_backfill.py's backfill while the same writer keeps inserting, and
   records the latencies again.
5. Checks every old row arrived (count and id sum), prints the figures and writes
   bench/results/partition_backfill.json.

What it shows: the migration step is quick whatever the size, and the writer keeps writing
during the backfill; compare its latencies with the baseline of the same run.
"""
import argparse
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from psycopg.rows import dict_row

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
import partition_backfill  # noqa: E402
import services  # noqa: E402
from app import db  # noqa: E402
from bench.harness import save  # noqa: E402


class Writer(threading.Thread):
    """Inserts one received-log row per statement until stopped; keeps the latencies (ms)."""

    def __init__(self, url: str):
        super().__init__(daemon=True)
        self.url = url
        self.latencies: list[float] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        with db.connect(self.url, autocommit=True) as conn:
            while not self.stopping.is_set():
                started = time.perf_counter()
                conn.execute("INSERT INTO received_requests (space_id, received_at, endpoint, status, http_status,"
                             " uid) VALUES (1, now(), 'GET /e', 'queued', 202, 'live')")
                self.latencies.append((time.perf_counter() - started) * 1000)

    def stop(self) -> dict:
        self.stopping.set()
        self.join(30)
        ordered = sorted(self.latencies)
        return {"inserts": len(ordered), "median_ms": round(statistics.median(ordered), 2),
                "p99_ms": round(ordered[int(len(ordered) * 0.99) - 1], 2), "max_ms": round(ordered[-1], 2)}


class EventWriter(Writer):
    """Records one event per statement (the ingest statement) until stopped; keeps the latencies (ms)."""

    def __init__(self, url: str, tag: str):
        super().__init__(url)
        self.tag = tag

    def run(self) -> None:
        from datetime import datetime, timezone

        from app.conversion import store
        from app.conversion.events import EventIn
        with db.connect(self.url, autocommit=True, row_factory=dict_row) as conn:
            n = 0
            while not self.stopping.is_set():
                n += 1
                item = store.InboxItem(1, EventIn(event="contact", uid="live", tg_id=None, eid=f"{self.tag}{n}",
                                                  value=None, currency="USD", occurred_at_ms=0),
                                       "live", datetime.now(timezone.utc), "post")
                started = time.perf_counter()
                store.record_events(conn, [item])
                self.latencies.append((time.perf_counter() - started) * 1000)


def firehose(args) -> int:
    """The 0026 procedure on a copy: events and clicks, their keys, the backfill with the ingest going on."""
    base = Path(tempfile.mkdtemp(prefix="xt-bench-partitions-"))
    try:
        url = services.start_postgres(base, database="xtracker_bench")
        clicks = args.rows // 4
        with db.connect(url, autocommit=True, row_factory=dict_row) as conn:
            db.migrate(conn, through="0025")
            conn.execute("INSERT INTO spaces (slug, name) VALUES ('bench', 'Bench')")
            started = time.perf_counter()
            conn.execute(
                "INSERT INTO events (space_id, event, uid, tg_id, currency, occurred_at_ms, received_at, source,"
                " dedup_key) SELECT 1, 'contact', CASE WHEN g %% 1000 = 0 THEN NULL ELSE 'u' || (g %% 100000) END,"
                " CASE WHEN g %% 1000 = 0 THEN g END, 'USD', 0, now() - (g * interval '30 days' / %(n)s), 'post',"
                " 'eid:contact:' || g FROM generate_series(1, %(n)s) g", {"n": args.rows})
            conn.execute(
                "INSERT INTO clicks (space_id, uid, created_at, source)"
                " SELECT 1, 'c' || g, now() - (g * interval '30 days' / %(n)s), 'landing'"
                " FROM generate_series(1, %(n)s) g", {"n": clicks})
            conn.execute("VACUUM ANALYZE events")
            conn.execute("VACUUM ANALYZE clicks")
            fill_seconds = time.perf_counter() - started
            expected = conn.execute("SELECT count(*) AS n, sum(id) AS s FROM events").fetchone()
        print(f"filled {args.rows:,} events and {clicks:,} clicks in {fill_seconds:.1f} s", flush=True)

        with db.connect(url, autocommit=True, row_factory=dict_row) as conn:
            started = time.perf_counter()
            db.migrate(conn)
            migrate_seconds = time.perf_counter() - started
        print(f"migrations 0026.. took {migrate_seconds:.2f} s", flush=True)

        # Baseline after the migration (the ingest statement needs event_keys), before the backfill.
        writer = EventWriter(url, "before")
        writer.start()
        time.sleep(args.seconds)
        baseline = writer.stop()

        writer = EventWriter(url, "during")
        writer.start()
        started = time.perf_counter()
        summary = partition_backfill.backfill(url, batch=args.batch)
        backfill_seconds = time.perf_counter() - started
        during = writer.stop()

        with db.connect(url, autocommit=True, row_factory=dict_row) as conn:
            arrived = conn.execute("SELECT count(*) AS n, sum(id) AS s FROM events"
                                   " WHERE uid IS DISTINCT FROM 'live'").fetchone()
            keys = conn.execute("SELECT count(*) AS n FROM event_keys").fetchone()["n"]
            clicks_arrived = conn.execute("SELECT count(*) AS n FROM clicks").fetchone()["n"]
            gone = conn.execute("SELECT to_regclass('events_legacy') IS NULL AND to_regclass('clicks_legacy') IS NULL"
                                " AS gone").fetchone()["gone"]
        live = baseline["inserts"] + during["inserts"]
        ok = (arrived["n"] == expected["n"] and arrived["s"] == expected["s"] and clicks_arrived == clicks
              and keys == expected["n"] + live and gone)
        results = {"rows": args.rows, "clicks": clicks, "batch": args.batch, "fill_seconds": round(fill_seconds, 1),
                   "migration_seconds": round(migrate_seconds, 2), "backfill_seconds": round(backfill_seconds, 1),
                   "rows_per_second": round((args.rows + clicks) / backfill_seconds), "backfill": summary,
                   "writer_baseline": baseline, "writer_during_backfill": during, "all_rows_arrived": ok}
        print(f"backfill: {args.rows + clicks:,} rows in {backfill_seconds:.1f} s"
              f" ({results['rows_per_second']:,} rows/s), all arrived, keys whole: {ok}")
        print(f"writer before: {baseline}")
        print(f"writer during: {during}")
        print(f"wrote {save('partition_backfill_firehose', results)}")
        return 0 if ok else 1
    finally:
        services.stop_postgres(base)
        shutil.rmtree(base, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=5.0, help="baseline writer run")
    parser.add_argument("--firehose", action="store_true", help="events and clicks (0026) instead of the logs")
    args = parser.parse_args()
    if args.firehose:
        return firehose(args)
    base = Path(tempfile.mkdtemp(prefix="xt-bench-partitions-"))
    try:
        url = services.start_postgres(base, database="xtracker_bench")
        with db.connect(url, autocommit=True, row_factory=dict_row) as conn:
            db.migrate(conn, through="0018_space_keys")
            conn.execute("INSERT INTO spaces (slug, name) VALUES ('bench', 'Bench')")
            started = time.perf_counter()
            conn.execute(
                "INSERT INTO received_requests (space_id, received_at, endpoint, params, status, http_status, uid)"
                " SELECT 1, now() - (g * interval '30 days' / %(n)s), 'POST /events',"
                " json_build_object('event', 'contact', 'uid', 'u' || g), 'queued', 202, 'u' || g"
                " FROM generate_series(1, %(n)s) g", {"n": args.rows})
            conn.execute("VACUUM ANALYZE received_requests")
            fill_seconds = time.perf_counter() - started
            expected = conn.execute("SELECT count(*) AS n, sum(id) AS s FROM received_requests").fetchone()
        print(f"filled {args.rows:,} received-log rows in {fill_seconds:.1f} s", flush=True)

        writer = Writer(url)
        writer.start()
        time.sleep(args.seconds)
        baseline = writer.stop()

        with db.connect(url, autocommit=True, row_factory=dict_row) as conn:
            started = time.perf_counter()
            db.migrate(conn)
            migrate_seconds = time.perf_counter() - started
        print(f"migration 0019 took {migrate_seconds:.2f} s", flush=True)

        writer = Writer(url)
        writer.start()
        started = time.perf_counter()
        summary = partition_backfill.backfill(url, batch=args.batch)
        backfill_seconds = time.perf_counter() - started
        during = writer.stop()

        with db.connect(url, autocommit=True, row_factory=dict_row) as conn:
            arrived = conn.execute("SELECT count(*) AS n, sum(id) AS s FROM received_requests"
                                   " WHERE uid <> 'live'").fetchone()
            legacy_gone = conn.execute("SELECT to_regclass('received_requests_legacy') IS NULL AS gone").fetchone()
        ok = arrived["n"] == expected["n"] and arrived["s"] == expected["s"] and legacy_gone["gone"]
        results = {"rows": args.rows, "batch": args.batch, "fill_seconds": round(fill_seconds, 1),
                   "migration_seconds": round(migrate_seconds, 2), "backfill_seconds": round(backfill_seconds, 1),
                   "rows_per_second": round(args.rows / backfill_seconds), "backfill": summary,
                   "writer_baseline": baseline, "writer_during_backfill": during, "all_rows_arrived": ok}
        print(f"backfill: {args.rows:,} rows in {backfill_seconds:.1f} s ({results['rows_per_second']:,} rows/s),"
              f" all arrived: {ok}")
        print(f"writer before: {baseline}")
        print(f"writer during: {during}")
        print(f"wrote {save('partition_backfill', results)}")
        return 0 if ok else 1
    finally:
        services.stop_postgres(base)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
