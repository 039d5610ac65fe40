"""Keeping the rollups folded for every space (the CLI and a periodic task call this)."""
from app import db
from app.reporting import store


def fold_all_spaces() -> int:
    """Fold every space's waiting deltas into its rollups, one space per transaction; return how many."""
    with db.connection() as conn:
        space_ids = store.list_spaces_with_deltas(conn)
    folded = 0
    for space_id in space_ids:
        with db.connection() as conn:
            folded += store.fold(conn, space_id)
    return folded


def fold_all_reports() -> int:
    """Fold every space's waiting report and cohort deltas, one space per transaction; return how many."""
    with db.connection() as conn:
        space_ids = [r["space_id"] for r in conn.execute(
            "SELECT DISTINCT space_id FROM report_deltas UNION SELECT DISTINCT space_id FROM cohort_deltas").fetchall()]
    folded = 0
    for space_id in space_ids:
        with db.connection() as conn:
            folded += conn.execute("SELECT fold_reports(%(space_id)s) AS n", {"space_id": space_id}).fetchone()["n"]
    return folded
