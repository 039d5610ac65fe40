"""RQ entry points. Jobs are thin: they take ids, reload state from Postgres, and hold no SQL."""
import redis
from flask import Flask

# xt-delivery first: a delivery backlog must not wait behind housekeeping.
QUEUES = ("xt-delivery", "xt-default")


def queue_connection(app: Flask) -> redis.Redis:
    """A Redis connection for RQ (RQ needs one without decoded responses and without short read timeouts)."""
    return redis.Redis.from_url(app.config["REDIS_URL"])
