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
