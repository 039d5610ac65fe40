"""gunicorn settings for the web process (Procfile `web`).

gevent is patched here, at the very top, because gunicorn reads this file before it imports
the app: psycopg and redis must be imported into an already-patched process.
"""
from gevent import monkey

monkey.patch_all()

import os  # noqa: E402

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gevent"
worker_connections = 2000
keepalive = 30
timeout = 30
graceful_timeout = 10
accesslog = None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
proc_name = "xtracker-web"
# gunicorn 27 opens a control socket at one fixed path per user; several servers on a machine
# (make run beside the test suite or a benchmark) would fight over it.
control_socket_disable = True


def worker_exit(server, worker):
    """Close the pool and Redis client so shutdown does not log greenlet errors."""
    from wsgi import app
    from app import close_app
    close_app(app)
