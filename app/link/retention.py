"""Retention of the personal data a click keeps for ad-platform matching (client IP, user agent)."""
from datetime import timedelta

from flask import current_app

from app import db
from app.lib import clock
from app.link import store


def clear_old_click_addresses() -> int:
    """Blank client IP and user agent of clicks older than CLICK_ADDRESS_RETENTION_DAYS; return how many."""
    cutoff = clock.now() - timedelta(days=current_app.config["CLICK_ADDRESS_RETENTION_DAYS"])
    with db.connection() as conn:
        cleared = store.clear_click_addresses(conn, cutoff)
    if cleared:
        current_app.logger.info("cleared client address and user agent of %d clicks", cleared)
    return cleared
