"""RQ entry points. Jobs are thin: they take ids, reload state from Postgres, and hold no SQL."""
import redis
from flask import Flask

# xt-telegram first: a join request's welcome must go within Telegram's 5-minute window, and
# its job is short (a 30 s budget); xt-delivery next: a backlog must not wait behind housekeeping.
QUEUES = ("xt-telegram", "xt-delivery", "xt-default")


def queue_connection(app: Flask) -> redis.Redis:
    """A Redis connection for RQ (RQ needs one without decoded responses and without short read timeouts)."""
    return redis.Redis.from_url(app.config["REDIS_URL"])
