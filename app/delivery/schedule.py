"""When a failed delivery is tried again (docs/delivery.md#retries).

Svix's published schedule: after the first attempt, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h,
each with ±20% jitter so a destination's backlog does not come back as one burst; then dead.
A 429 or a timeout waits at least 60 s, and a Retry-After longer than the schedule is honoured.
"""
import random
from datetime import timedelta

SCHEDULE = (timedelta(seconds=5), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2),
            timedelta(hours=5), timedelta(hours=10), timedelta(hours=10))
JITTER = 0.2
SLOW_MINIMUM = timedelta(seconds=60)
# A Retry-After is honoured up to the longest step of the schedule.
RETRY_AFTER_CAP = timedelta(hours=10)

MAX_ATTEMPTS = len(SCHEDULE) + 1


def next_delay(attempts: int, *, slow: bool = False, retry_after: float | None = None,
               rng: random.Random | None = None) -> timedelta | None:
    """The wait after the `attempts`-th automatic attempt failed, or None when the schedule is over."""
    if attempts >= MAX_ATTEMPTS:
        return None
    step = SCHEDULE[attempts - 1]
    delay = step * (rng or random).uniform(1 - JITTER, 1 + JITTER)
    if slow:
        delay = max(delay, SLOW_MINIMUM)
    if retry_after is not None:
        delay = max(delay, min(timedelta(seconds=retry_after), RETRY_AFTER_CAP))
    return delay
