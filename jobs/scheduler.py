"""The periodic process (Procfile `scheduler`): runs each periodic task on its interval.

Tasks run here directly rather than through RQ so they keep running when Redis is away; the
work they trigger is idempotent, so two schedulers running at once are harmless.
"""
import logging
import signal
import sys
import time
from typing import Callable

from app import create_app, db
from app.config import ConfigError
from app.link import retention
from app.partitions import retention as partitions
from app.rate import ecb
from app.received import retention as received_retention
from app.reporting import maintenance as rollups
from jobs import delivery, maintenance, telegram

log = logging.getLogger("xtracker.scheduler")

# (name, interval in seconds, task)
PERIODIC: tuple[tuple[str, float, Callable[[], object]], ...] = (
    ("purge_expired_keys", 3600.0, maintenance.purge_expired_keys),
    ("sweep_due_deliveries", 5.0, delivery.sweep_due_deliveries),
    ("clear_old_click_addresses", 3600.0, retention.clear_old_click_addresses),
    ("fold_deck_rollups", 60.0, rollups.fold_all_spaces),
    ("fold_report_rollups", 60.0, rollups.fold_all_reports),
    ("purge_received_log", 600.0, received_retention.purge_received_log),
    ("maintain_partitions", 3600.0, partitions.maintain_partitions),
    ("sweep_telegram", 5.0, telegram.sweep_telegram),
    ("top_up_invite_pools", 10.0, telegram.top_up_invite_pools),
    ("revoke_unused_invites", 600.0, telegram.revoke_unused_invites),
    ("collect_channel_stats", 3600.0, telegram.collect_channel_stats),
    ("purge_processed_updates", 3600.0, telegram.purge_processed_updates),
    ("purge_telegram_history", 3600.0, telegram.purge_old_history),
)

TICK_SECONDS = 1.0


def main() -> int:
    """Loop until SIGINT/SIGTERM, running each task when its interval has passed."""
    app = create_app(process="scheduler")
    stopping = False
    rates_minutes = app.config["RATES_FETCH_MINUTES"]
    tasks = PERIODIC + ((("fetch_reference_rates", rates_minutes * 60.0, ecb.fetch_reference_rates_task),)
                        if rates_minutes else ())

    def stop(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    next_run = {name: 0.0 for name, _, _ in tasks}
    log.info("scheduler started: %s", ", ".join(f"{n} every {i:g}s" for n, i, _ in tasks))
    with app.app_context():
        while not stopping:
            now = time.monotonic()
            for name, interval, task in tasks:
                if now < next_run[name]:
                    continue
                try:
                    task()
                    next_run[name] = now + interval
                except db.StorageUnavailable as exc:
                    log.warning("%s: storage unavailable (%s); retrying shortly", name, exc)
                    next_run[name] = now + 5
                except Exception:
                    log.exception("%s failed", name)
                    next_run[name] = now + interval
            time.sleep(TICK_SECONDS)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ConfigError as exc:
        sys.exit(f"XTRACKER configuration error: {exc}")
