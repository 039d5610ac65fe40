"""Liveness and readiness probes for load balancers and `make run`."""
import os

from flask import Blueprint, current_app, jsonify

from app import db, services
from app.lib import group_commit

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def show_health():
    """The process is up and serving.

    Shape: {"ok": true, "gevent_patched": bool, "pid": int, "set_aside": {writer name: rows}} — the rows
    each shared batch writer of this web process set aside since it started (one row the database refused,
    its neighbours written; see docs/api.md). A load balancer checks only the 200.
    """
    from gevent import monkey
    return jsonify(ok=True, gevent_patched=monkey.is_module_patched("socket"), pid=os.getpid(),
                   set_aside=group_commit.set_aside_counts())


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
