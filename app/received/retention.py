"""Purge of the received log's default partition: rows older than RECEIVED_LOG_DAYS beyond each space's newest.

Whole days go as partitions (app/partitions/retention.py); this trims what no day holds.
"""
from datetime import timedelta

from flask import current_app

from app import db
from app.lib import clock
from app.received import store


def purge_received_log() -> int:
    """Delete what the retention settings no longer keep; return how many rows went (app context)."""
    config = current_app.config
    cutoff = clock.now() - timedelta(days=config["RECEIVED_LOG_DAYS"])
    with db.connection() as conn:
        return store.purge_requests(conn, cutoff=cutoff, keep=config["RECEIVED_LOG_MIN_ROWS"])
