"""The scheduler's maintain_partitions task: days made ahead, days beyond retention dropped."""
import logging
from datetime import timedelta

from flask import current_app

from app import db
from app.lib import clock
from app.partitions import store

log = logging.getLogger(__name__)


def maintain_partitions() -> int:
    """Make the days ahead and drop the days behind of every partitioned log; return how many days went.

    delivery_attempts keeps DELIVERY_ATTEMPT_DAYS, the received log RECEIVED_LOG_DAYS (and each
    space's newest RECEIVED_LOG_MIN_ROWS, copied back before their day is dropped); clicks keep
    CLICK_DAYS and events EVENT_DAYS (0: for ever; an events day goes with its dedup keys). Each table is
    handled in its own transactions; a day is kept whole until all of it is beyond retention.
    """
    config = current_app.config
    now = clock.now()
    dropped = 0
    with db.connection() as conn:
        for table in store.PARTITIONED:
            with conn.transaction():
                store.lock_partitions(conn)
                store.make_days_ahead(conn, table)
        attempts = timedelta(days=config["DELIVERY_ATTEMPT_DAYS"])
        with conn.transaction():
            store.lock_partitions(conn)
            dropped += store.drop_days_behind(conn, "delivery_attempts", retention=attempts, now=now)
            store.trim_default(conn, "delivery_attempts", cutoff=now - attempts)
        received = timedelta(days=config["RECEIVED_LOG_DAYS"])
        with conn.transaction():
            store.lock_partitions(conn)
            dropped += store.drop_days_behind(conn, "received_requests", retention=received, now=now,
                                              keep_tables=True)
        clicks = config["CLICK_DAYS"]
        if clicks:
            with conn.transaction():
                store.lock_partitions(conn)
                dropped += store.drop_days_behind(conn, "clicks", retention=timedelta(days=clicks), now=now)
                store.trim_default(conn, "clicks", cutoff=now - timedelta(days=clicks))
        events = config["EVENT_DAYS"]
        if events:
            with conn.transaction():
                store.lock_partitions(conn)
                dropped += store.drop_days_behind(conn, "events", retention=timedelta(days=events), now=now,
                                                  keep_tables=True)
                store.trim_default(conn, "events", cutoff=now - timedelta(days=events))
        for name in store.list_expired(conn, "events"):
            # A detached day of events is dropped with its dedup keys, one day per transaction.
            with conn.transaction():
                store.lock_partitions(conn)
                if not store.expired_exists(conn, name):
                    continue
                keys = store.drop_expired_events(conn, name)
            log.info("dropped events day %s with its %d dedup keys", name, keys)
        for name in store.list_expired(conn, "received_requests"):
            with conn.transaction():
                store.lock_partitions(conn)
                if not store.expired_exists(conn, name):
                    continue
                kept = store.drop_expired_received(conn, name, keep=config["RECEIVED_LOG_MIN_ROWS"])
            log.info("dropped received-log day %s (kept %d rows of quiet spaces)", name, kept)
    if dropped:
        log.info("dropped %d partition days beyond retention", dropped)
    return dropped
