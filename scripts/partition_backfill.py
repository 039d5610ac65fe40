"""Move the rows of a large legacy log into its time-partitioned table while XTRACKER runs.

Migrations 0019 (delivery_attempts, received_requests) and 0026 (events, clicks) rename each
table to *_legacy and put a partitioned table in its place (metadata only, so the upgrade is
quick; 0026 also copies every legacy event's dedup key into event_keys); they copy a legacy table
of at most 100,000 rows themselves and leave a larger one to this tool. Run it once after the upgrade,
with the app running:

    DATABASE_URL=postgresql://... .venv/bin/python scripts/partition_backfill.py [--batch 5000]

Each batch is one short transaction: one statement deletes up to --batch rows from the legacy
table and inserts them, with their ids, into the partitioned table (their day's partition, or
the default one for days older than the partitions). A batch is atomic, so the tool can be
stopped and run again at any time; nothing is copied twice or lost. The app writes only to the
partitioned tables meanwhile; readers see the old rows appear batch by batch. An emptied legacy
table is dropped. Output: one JSON line per table ({"table", "moved", "seconds"}).
"""
import argparse
import json
import os
import sys
import time
from pathlib import Path

from psycopg import sql
from psycopg.rows import dict_row

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from app import db  # noqa: E402

TABLES = ("delivery_attempts", "received_requests", "events", "clicks")


def legacy_columns(conn, table: str) -> list[str]:
    """The legacy table's columns, in order (empty when there is no legacy table)."""
    return [r["column_name"] for r in conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = %(t)s"
        " ORDER BY ordinal_position", {"t": f"{table}_legacy"})]


def move_batch(conn, table: str, columns: list[str], batch: int) -> int:
    """Move up to `batch` rows from the legacy table into the partitioned one in one statement; return how many."""
    cols = sql.SQL(", ").join(map(sql.Identifier, columns))
    query = sql.SQL(
        "WITH moved AS ("
        " DELETE FROM {legacy} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {legacy} LIMIT %(batch)s)) RETURNING {cols}"
        "), copied AS ("
        " INSERT INTO {table} ({cols}) OVERRIDING SYSTEM VALUE SELECT {cols} FROM moved ON CONFLICT DO NOTHING"
        " RETURNING 1)"
        " SELECT count(*) AS n FROM moved"
    ).format(legacy=sql.Identifier(f"{table}_legacy"), table=sql.Identifier(table), cols=cols)
    with conn.transaction():
        # Moved rows were counted by the rollups when they arrived: the statement triggers of
        # events and clicks skip this transaction (0026).
        conn.execute("SELECT set_config('xtracker.moving_legacy', 'on', true)")
        return conn.execute(query, {"batch": batch}).fetchone()["n"]


def backfill(url: str, *, batch: int = 5000, pause: float = 0.0, tables: tuple[str, ...] = TABLES) -> list[dict]:
    """Move every legacy table's rows, then drop it; return one summary per table that had one."""
    done = []
    with db.connect(url, autocommit=True, row_factory=dict_row) as conn:
        for table in tables:
            columns = legacy_columns(conn, table)
            if not columns:
                continue
            started, moved = time.monotonic(), 0
            while True:
                n = move_batch(conn, table, columns, batch)
                moved += n
                if n == 0:
                    break
                if pause:
                    time.sleep(pause)
            with conn.transaction():
                # Rows can no longer arrive (the app writes the partitioned table): empty means done.
                if conn.execute(sql.SQL("SELECT NOT EXISTS (SELECT 1 FROM {}) AS empty").format(
                        sql.Identifier(f"{table}_legacy"))).fetchone()["empty"]:
                    conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(f"{table}_legacy")))
            done.append({"table": table, "moved": moved, "seconds": round(time.monotonic() - started, 2)})
    return done


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=5000, help="rows per transaction (default 5000)")
    parser.add_argument("--pause", type=float, default=0.0, help="seconds to sleep between batches")
    args = parser.parse_args(argv)
    url = os.environ.get("DATABASE_URL")
    if not url:
        print("partition_backfill: set DATABASE_URL to the database to move", file=sys.stderr)
        return 2
    if not 1 <= args.batch <= 1_000_000:
        print("partition_backfill: --batch must be between 1 and 1000000", file=sys.stderr)
        return 2
    for summary in backfill(url, batch=args.batch, pause=max(args.pause, 0.0)):
        print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
