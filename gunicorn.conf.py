"""gunicorn settings for the web process (Procfile `web`).

gevent is patched here, at the very top, because gunicorn reads this file before it imports
the app: psycopg and redis must be imported into an already-patched process.
"""
from gevent import monkey

monkey.patch_all()

import gunicorn.http.message as _http_message  # noqa: E402

from app.config import ConfigError, load  # noqa: E402
from app.lib import log_redaction  # noqa: E402

# gunicorn's error and access logs write request lines (`GET /e?token=…`): every record of the
# master and its workers is redacted when it is created (app/lib/log_redaction.py).
log_redaction.install()

# Every setting is validated before the server binds: a bad value stops it with the name.
try:
    _settings = load()
except ConfigError as exc:
    raise SystemExit(f"XTRACKER configuration error: {exc}") from None

bind = f"0.0.0.0:{_settings['PORT']}"
workers = _settings["WEB_CONCURRENCY"]
worker_class = "gevent"
worker_connections = 2000
keepalive = 30
timeout = 30
graceful_timeout = 10
accesslog = None
errorlog = "-"
loglevel = _settings["LOG_LEVEL"].lower()
proc_name = "xtracker-web"
# Ad URLs run long: a landing URL of up to 2,048 characters (Google Ads' final URL limit) gets a
# tracking template's redirect wrapped around it and the platform's click id (fbclid, gclid,
# ttclid, a few hundred characters) and dynamic utm/placement parameters carrying campaign, ad
# set and ad names appended; gunicorn's default 4,094-byte request line answered such paid
# visitors 414 and lost them. 32 KiB leaves room over the 16 KiB XTRACKER promises to accept.
# gunicorn caps limit_request_line at its module constant MAX_REQUEST_LINE (8,190) unless 0
# ("unlimited", which lets one request line grow without bound), so the constant is raised to
# the bound chosen here (docs/links.md#long-urls).
REQUEST_LINE_BYTES = 32768
_http_message.MAX_REQUEST_LINE = max(_http_message.MAX_REQUEST_LINE, REQUEST_LINE_BYTES)
limit_request_line = REQUEST_LINE_BYTES
# A Referer header repeats the long URL of the page before; cookies grow on custom domains.
limit_request_field_size = 32768
# gunicorn 27 opens a control socket at one fixed path per user; several servers on a machine
# (make run beside the test suite or a benchmark) would fight over it.
control_socket_disable = True


def worker_exit(server, worker):
    """Close the pool and Redis client so shutdown does not log greenlet errors."""
    from wsgi import app
    from app import close_app
    close_app(app)
