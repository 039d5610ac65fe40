"""WSGI entry point: `gunicorn -c gunicorn.conf.py wsgi:app`, and `flask --app wsgi …` for the CLI.

Under gunicorn, gevent's monkey-patching has already happened in gunicorn.conf.py, before this
module (and psycopg) is imported: a psycopg imported first would block the whole worker on
every query.
"""
import sys

from app import create_app
from app.config import ConfigError

try:
    app = create_app(process="web" if "gunicorn" in sys.modules else "cli")
except ConfigError as exc:
    raise SystemExit(f"XTRACKER configuration error: {exc}") from None
