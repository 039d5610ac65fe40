"""Periodic housekeeping jobs."""
from datetime import timedelta

from flask import current_app

from app import db
from app.auth import store as auth_store
from app.lib import clock

EXPIRED_KEY_RETENTION = timedelta(days=30)


def purge_expired_keys() -> int:
    """Delete rotated-out secrets whose grace ended over 30 days ago (their hints are no longer useful)."""
    with db.connection() as conn:
        deleted = auth_store.delete_expired_keys(conn, clock.now() - EXPIRED_KEY_RETENTION)
    if deleted:
        current_app.logger.info("purged %d expired api keys", deleted)
    return deleted
