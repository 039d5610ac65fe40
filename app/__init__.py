"""XTRACKER: the Flask application factory."""
import logging
from typing import Any

from flask import Flask, jsonify, request
from flask.sessions import SessionInterface
from werkzeug.exceptions import HTTPException

from app import config as config_module
from app import db, pubsub, services
from app.lib import clock, log_redaction, proxies, request_text, secretbox
from app.live import FEED


def create_app(overrides: dict[str, Any] | None = None, *, process: str = "web") -> Flask:
    """Build the app: settings → pool → Redis → blueprints → CLI.

    `overrides` replaces environment settings (tests pass CLOCK, URLs and the like);
    `process` names the Postgres application_name (web, worker, scheduler, cli).
    """
    settings = config_module.load(overrides=overrides)
    logging.basicConfig(level=settings["LOG_LEVEL"], format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # No secret in any log: every record is redacted when created (app/lib/log_redaction.py), and
    # httpx's per-request line (the full destination URL) is not written at all; the attempt log
    # and the worker's own lines name destinations by id and host.
    log_redaction.install()
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLevelName(settings["LOG_LEVEL"])))

    app = Flask(__name__, template_folder="../templates", static_folder="../static")
    app.config.update(settings)
    app.session_interface = _NoCookieSession()
    app.config.setdefault("CLOCK", clock.system_now)
    app.config["MAX_CONTENT_LENGTH"] = settings["MAX_BODY_BYTES"]
    app.config["JSON_SORT_KEYS"] = False
    app.json.sort_keys = False
    # Before every other hook (host routing, sessions) and every view: text that is not clean
    # UTF-8 is refused here, once, for every endpoint (docs/api.md, "invalid_text").
    app.before_request(request_text.refuse_bad_text)

    app.extensions[services.EXTENSION] = _build_services(app, settings, process)

    from app.health.views import bp as health_bp
    from app.ingress.views import bp as ingress_bp
    app.register_blueprint(health_bp)
    app.register_blueprint(ingress_bp)

    from app.dashboard.views import bp as dashboard_bp
    from app.web.views import bp as web_bp
    app.register_blueprint(web_bp)
    app.register_blueprint(dashboard_bp)
    app.config.setdefault("SOCK_SERVER_OPTIONS", {"ping_interval": 25})

    from app.telegram.webhook import bp as telegram_webhook_bp
    app.register_blueprint(telegram_webhook_bp)

    from app.docs.views import bp as docs_bp
    app.register_blueprint(docs_bp)

    from app.setup import destinations, domains, keys, links, members, received, spaces, telegram
    for module in (spaces, members, links, domains, keys, destinations, received, telegram):
        app.register_blueprint(module.bp)
    app.register_blueprint(members.invite_bp)
    from app.cost import api as cost_api, views as cost_views
    from app.report import views as report_views
    for blueprint in (cost_api.bp, cost_views.bp, report_views.api_bp, report_views.bp):
        app.register_blueprint(blueprint)
    from app.web.store import ROLE_RANK
    app.jinja_env.globals["role_at_least"] = lambda role, needed: ROLE_RANK[role] >= ROLE_RANK[needed]
    from app.web.once import new_token
    app.jinja_env.globals["form_token"] = new_token
    from app.lib.localtime import format_local
    app.jinja_env.filters["local"] = format_local

    # Keep the landing last: its /<slug> must never shadow another blueprint's route.
    from app.landing.views import bp as landing_bp
    app.register_blueprint(landing_bp)

    from app.cli import register_cli
    register_cli(app)
    _register_error_handlers(app)
    from app.auth import limits
    from app.landing.views import is_a_visit, send_on_without_click
    from app.web.views import render_login_refusal
    limits.install(app, is_a_visit=is_a_visit, send_on_without_click=send_on_without_click,
                   render_login_refusal=render_login_refusal)
    from app.web import headers
    headers.install(app)
    from app.received import capture
    capture.install(app, ingress_bp.name)
    return app


class _NoCookieSession(SessionInterface):
    """XTRACKER keeps no state in Flask's signed-cookie session (dashboard sessions live in
    Postgres, app/web/session.py), so no request pays for opening or saving one."""

    def open_session(self, app: Flask, request):
        return self.make_null_session(app)

    def save_session(self, app: Flask, session, response) -> None:
        return None


def _build_services(app: Flask, settings: dict, process: str) -> services.Services:
    """Every per-process service, built once here (app/services.py names them); no thread starts yet."""
    from app.conversion import wake
    from app.conversion.inbox import InboxWriter
    from app.dashboard.live import deliver_frames as deck_frames
    from app.delivery.dispatch import build_http_client as delivery_http_client
    from app.landing.views import Landing
    from app.lib.dns import SystemResolver
    from app.lib.ttl_cache import TtlCache
    from app.live import Hub
    from app.received import live as received_live
    from app.received.capture import ReceivedLog
    from app.telegram.bots import build_http_client as telegram_http_client
    from app.telegram.inbox import UpdateWriter

    pool = db.create_pool(
        settings["DATABASE_URL"],
        min_size=settings["DB_POOL_MIN"],
        max_size=settings["DB_POOL_MAX"],
        timeout=settings["DB_POOL_TIMEOUT"],
        application_name=f"xtracker-{process}",
    )
    client = pubsub.create_redis(settings["REDIS_URL"])
    trusted = proxies.TrustedProxies(settings["TRUSTED_PROXIES"])
    hub = Hub(app)
    # The hub carries frames; the deck and the received log each say how theirs are rendered.
    hub.register(FEED, pubsub.FEED_CHANNEL, deck_frames)
    hub.register(received_live.KIND, pubsub.RECEIVED_CHANNEL, received_live.deliver_frames)
    return services.Services(
        pool=pool,
        redis=client,
        proxies=trusted,
        publisher=pubsub.Publisher(client),
        inbox=InboxWriter(pool, writers=settings["INGEST_WRITERS"], batch_max=settings["INGEST_BATCH_MAX"]),
        landing=Landing(app, trusted, pool),
        delivery_waker=wake.Waker(app, wake.DELIVERY),
        telegram_waker=wake.Waker(app, wake.TELEGRAM),
        live_hub=hub,
        received_log=ReceivedLog(app, buffer=settings["RECEIVED_LOG_BUFFER"]),
        build_delivery_http=lambda: delivery_http_client(app.config),
        telegram_http=telegram_http_client(settings),
        telegram_updates=UpdateWriter(pool),
        telegram_hooks=TtlCache(settings["LINK_CACHE_SECONDS"]),
        resolver=SystemResolver(),
        destination_key=secretbox.derive_key(settings["SECRET_KEY"]),
        form_key=secretbox.derive_key("once:" + settings["SECRET_KEY"]),
    )


def close_app(app: Flask) -> None:
    """Stop and release every service (gunicorn worker_exit, tests, CLI exit): feeds and logs flushed first."""
    found = services.of(app)
    found.live_hub.stop()
    found.received_log.flush(timeout=2)
    found.telegram_http.close()
    found.drop_delivery_http()
    found.publisher.flush(timeout=2)
    if found.counters is not None:
        found.counters.close()
    found.pool.close()
    found.redis.close()


def _register_error_handlers(app: Flask) -> None:
    """Every error leaves as JSON with ok/status/error; never a stack trace."""

    @app.errorhandler(db.StorageUnavailable)
    def storage_unavailable(exc: db.StorageUnavailable):
        app.logger.error("storage unavailable on %s %s: %s", request.method, request.path, exc)
        response = jsonify(ok=False, status="unavailable",
                           error="storage is temporarily unavailable; retry (requests are idempotent)")
        response.status_code = 503
        response.headers["Retry-After"] = "5"
        return response

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        status = {400: "invalid_request", 401: "unauthorized", 404: "not_found", 405: "method_not_allowed",
                  413: "payload_too_large", 415: "unsupported_media_type"}.get(exc.code or 500, "error")
        reason = exc.description or exc.name
        if exc.code == 413:
            reason = f"request body is larger than {app.config['MAX_BODY_BYTES']} bytes"
        response = jsonify(ok=False, status=status, error=reason)
        response.status_code = exc.code or 500
        if exc.code == 405 and getattr(exc, "valid_methods", None):
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response

    @app.errorhandler(Exception)
    def unexpected_error(exc: Exception):
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        response = jsonify(ok=False, status="error", error="internal error; it has been logged")
        response.status_code = 500
        return response
