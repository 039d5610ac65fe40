"""Login sessions and CSRF for the dashboard.

The session cookie holds a 256-bit random token; the database keeps only its SHA-256 digest, so
a leaked table logs nobody in and logout ends the session everywhere. Each session carries its
own CSRF token, which every state-changing request must echo in the `csrf_token` form field or
the `X-CSRF-Token` header (HTMX sends it from the page's hx-headers). The login form, which has
no session yet, uses a double-submit cookie instead.
"""
import hmac
import secrets
from datetime import timedelta
from functools import wraps
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, g, redirect, render_template, request, url_for

from app import db
from app.lib import clock, tokens
from app.web import store

COOKIE = "xt_session"
LOGIN_CSRF_COOKIE = "xt_login_csrf"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def secure_cookies() -> bool:
    """Cookies are Secure when the deployment is served over HTTPS."""
    return request.is_secure or current_app.config["PUBLIC_URL"].startswith("https://")


def set_cookie(response, name: str, value: str, max_age: int | None) -> None:
    """Set an HttpOnly, SameSite=Lax cookie (Secure behind HTTPS)."""
    response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="Lax", secure=secure_cookies(),
                        path="/")


def start_session(response, user_id: int) -> None:
    """Open a session for the user and put its token in the response's cookie."""
    token = secrets.token_urlsafe(32)
    lifetime = timedelta(hours=current_app.config["SESSION_HOURS"])
    with db.connection() as conn:
        store.create_session(conn, tokens.digest(token), user_id, secrets.token_urlsafe(32), clock.now(), lifetime)
    set_cookie(response, COOKIE, token, int(lifetime.total_seconds()))


def end_session(response) -> None:
    """Delete the current session and its cookie."""
    token = request.cookies.get(COOKIE)
    if token:
        with db.connection() as conn:
            store.delete_session(conn, tokens.digest(token))
    response.delete_cookie(COOKIE, path="/")


def load_user() -> None:
    """Put the session's user in g.user (or None), once per request."""
    if "user" in g:
        return
    g.user = None
    token = request.cookies.get(COOKIE)
    if not token or len(token) > 128:
        return
    with db.connection() as conn:
        row = store.find_session(conn, tokens.digest(token), clock.now())
    if row is not None:
        g.user = {"id": row["user_id"], "email": row["email"], "csrf_token": row["csrf_token"]}


def check_csrf() -> None:
    """Refuse (403) a state-changing request that does not echo the session's CSRF token."""
    if request.method not in UNSAFE_METHODS:
        return
    sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token") or ""
    expected = g.user["csrf_token"] if g.get("user") else ""
    if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        abort(403, description="the form has expired or did not come from this site (CSRF check failed); reload the page")


def login_required(view):
    """Send anonymous visitors to /login (HTMX requests get an HX-Redirect), then check CSRF."""
    @wraps(view)
    def wrapper(*args, **kwargs):
        load_user()
        if g.user is None:
            target = url_for("web.show_login", next=request.full_path.rstrip("?"))
            if request.headers.get("HX-Request"):
                return "", 401, {"HX-Redirect": target}
            return redirect(target)
        check_csrf()
        return view(*args, **kwargs)
    return wrapper


def member_space(slug: str, min_role: str = "viewer") -> dict:
    """The space `slug` if the user is a member with at least `min_role`.

    Not a member (or no such space) is a 404, so other spaces' existence is not revealed; a
    member whose role is too low gets a 403.
    """
    with db.connection() as conn:
        space = store.find_member_space(conn, g.user["id"], slug)
    if space is None:
        abort(404, description="no such space")
    if store.ROLE_RANK[space["role"]] < store.ROLE_RANK[min_role]:
        abort(403, description=f"this needs the {min_role} role in {space['name']}")
    g.space = space
    return space


def safe_next(target: str | None) -> str | None:
    """`target` when it is a path on this site (no scheme, host or protocol-relative URL), else None."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else None


def register_error_pages(bp: Blueprint) -> None:
    """Render the blueprint's 400/403/404 as pages (HTMX swaps show the message in place)."""
    def render(exc):
        return render_template("auth/error.html", status=exc.code, message=exc.description), exc.code

    for code in (400, 403, 404):
        bp.register_error_handler(code, render)
