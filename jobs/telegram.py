"""Telegram jobs: the RQ job that drains the update queue, drip and approvals, and the scheduler's periodic tasks."""
import logging
import time
from datetime import timedelta

from flask import current_app

from app import db
from app.lib import clock
from app.conversion import wake
from app.telegram import pool, sender, stats, store, updates

log = logging.getLogger(__name__)

BUDGET_SECONDS = 30.0
UPDATE_LEASE = timedelta(seconds=60)
UPDATE_MAX_ATTEMPTS = 5
UPDATE_RETENTION = timedelta(days=7)
PURGE_BATCH = 5000


def process_due() -> int:
    """Process queued updates, send due drip messages, then approve due join requests, until nothing is due.

    Order matters: a join request's welcome goes before its approval (Telegram's 5-minute
    user_chat_id window). Returns how many items were handled.
    """
    app = current_app._get_current_object()
    wake.woken(app, wake.TELEGRAM)
    deadline = time.monotonic() + BUDGET_SECONDS
    handled = 0
    while time.monotonic() < deadline:
        # One batch of updates at a time, so approvals and welcomes are never held up by a busy queue.
        done = process_updates(deadline, max_batches=1)
        done += sender.send_due_messages(app, deadline)
        done += sender.approve_due(app, deadline)
        handled += done
        if not done:
            break
    if time.monotonic() >= deadline:
        wake.wake(app, wake.TELEGRAM)
    return handled


def process_updates(deadline: float, max_batches: int = 1_000_000) -> int:
    """Apply pending updates in arrival order; a failing one is retried, then marked failed (never blocks the rest)."""
    app = current_app._get_current_object()
    handled = 0
    for _ in range(max_batches):
        if time.monotonic() >= deadline:
            break
        now = clock.now()
        with db.transaction() as conn:
            rows = store.claim_updates(conn, now, now + UPDATE_LEASE)
        if not rows:
            break
        for row in rows:
            try:
                updates.announce(updates.process(app, row))
            except db.StorageUnavailable:
                raise
            except Exception as exc:
                bad = isinstance(exc, updates.BadUpdate)
                if not bad:
                    log.exception("update %s of space %s failed", row["update_id"], row["space_id"])
                with db.transaction() as conn:
                    store.finish_update(conn, row["space_id"], row["bot_id"], row["update_id"],
                                        error=str(exc)[:300] or type(exc).__name__,
                                        failed=bad or row["attempts"] >= UPDATE_MAX_ATTEMPTS, now=clock.now())
            handled += 1
    return handled


def sweep_telegram() -> bool:
    """Wake the worker when updates, drip messages or approvals are due (Redis loss delays, never loses)."""
    now = clock.now()
    with db.connection() as conn:
        due = (store.has_pending_updates(conn, now) or store.has_due_messages(conn, now)
               or store.has_due_approvals(conn, now))
    if due:
        wake.wake(current_app._get_current_object(), wake.TELEGRAM)
    return due


def top_up_invite_pools() -> int:
    """Keep every connected channel's per-click invite pool full (and each channel link's shared link minted)."""
    return pool.top_up_all(current_app._get_current_object())


def revoke_unused_invites() -> int:
    """Revoke per-click invite links handed out and never used within TELEGRAM_INVITE_UNUSED_HOURS, and used ones."""
    return pool.revoke_unused(current_app._get_current_object())


def collect_channel_stats() -> int:
    """The hourly member count and log counts of every connected channel."""
    return stats.collect(current_app._get_current_object())


def purge_processed_updates() -> int:
    """Forget processed updates after 7 days (Telegram re-delivers for at most a day)."""
    with db.connection() as conn:
        return store.purge_updates(conn, clock.now() - UPDATE_RETENTION)


def purge_old_history() -> int:
    """Forget join requests, membership facts and drip messages older than TELEGRAM_HISTORY_DAYS; return how many went."""
    cutoff = clock.now() - timedelta(days=current_app.config["TELEGRAM_HISTORY_DAYS"])
    total = 0
    while True:
        with db.transaction() as conn:
            gone = store.purge_history(conn, cutoff, PURGE_BATCH)
        total += sum(gone.values())
        if max(gone.values()) < PURGE_BATCH:
            return total
