"""Liveness and readiness probes for load balancers and `make run`."""
from flask import Blueprint, current_app, jsonify

from app import db, services

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def show_health():
    """The process is up and serving; says whether gevent patching happened (web processes)."""
    from gevent import monkey
    return jsonify(ok=True, gevent_patched=monkey.is_module_patched("socket"))


@bp.get("/readyz")
def show_readiness():
    """Postgres and Redis both answer; 503 naming the one that does not."""
    checks = {"postgres": False, "redis": False}
    try:
        with db.connection() as conn:
            conn.execute("SELECT 1")
        checks["postgres"] = True
    except db.StorageUnavailable:
        pass
    try:
        checks["redis"] = bool(services.of(current_app).redis.ping())
    except Exception:  # any redis failure means "not ready"
        pass
    ready = all(checks.values())
    response = jsonify(ok=ready, checks=checks)
    response.status_code = 200 if ready else 503
    if not ready:
        response.headers["Retry-After"] = "5"
    return response
