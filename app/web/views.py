"""Login, logout, the space list and `/` (docs/dashboard.md)."""
import hmac
import secrets
from datetime import timedelta

from flask import Blueprint, current_app, g, make_response, redirect, render_template, request, url_for

from app import db
from app.auth import store as auth_store
from app.lib import clock, passwords, proxies
from app.web import session, store

bp = Blueprint("web", __name__)
session.register_error_pages(bp)

# Verifying against a real hash when the email is unknown keeps both answers equally slow.
_DUMMY_HASH = passwords.hash_password(secrets.token_urlsafe(16))


@bp.get("/")
def show_home():
    """Send a visitor to their first space's deck, or to /login."""
    session.load_user()
    if g.user is None:
        return redirect(url_for("web.show_login"))
    with db.connection() as conn:
        spaces = store.list_user_spaces(conn, g.user["id"])
    if not spaces:
        return render_template("auth/no_spaces.html", spaces=spaces), 200
    return redirect(url_for("dashboard.show_deck", space=spaces[0]["slug"]))


@bp.get("/spaces/")
@session.login_required
def list_spaces():
    """The spaces the user belongs to (the switcher's target when JavaScript is off)."""
    with db.connection() as conn:
        spaces = store.list_user_spaces(conn, g.user["id"])
    return render_template("auth/no_spaces.html", spaces=spaces)


def _render_login(email: str = "", error: str | None = None, status: int = 200):
    token = request.cookies.get(session.LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
    response = make_response(render_template("auth/login.html", email=email, error=error, csrf_token=token,
                                             next=session.safe_next(request.values.get("next"))), status)
    session.set_cookie(response, session.LOGIN_CSRF_COOKIE, token, 3600)
    return response


@bp.get("/login")
def show_login():
    """The login form."""
    return _render_login()


@bp.post("/login")
def login():
    """Check email and password (throttled per email and per address) and open a session."""
    email = request.form.get("email", "").strip().lower()[:254]
    password = request.form.get("password", "")[:1024]
    sent = request.form.get("csrf_token", "")
    cookie = request.cookies.get(session.LOGIN_CSRF_COOKIE, "")
    if not cookie or not hmac.compare_digest(sent.encode(), cookie.encode()):
        return _render_login(email, "The form expired. Please sign in again.", 403)
    if not email or not password:
        return _render_login(email, "Enter your email and password.", 400)
    config = current_app.config
    now = clock.now()
    window = timedelta(minutes=config["LOGIN_THROTTLE_MINUTES"])
    # The visitor's address as the landing reads it (trusted proxies, one canonical form), so a
    # proxy's own address is not one shared counter for everyone behind it.
    address = proxies.client_address(request.remote_addr, request.headers,
                                     proxies.TrustedProxies(config["TRUSTED_PROXIES"]))
    email_key, ip_key = f"email:{email}", f"ip:{address or 'unknown'}"
    with db.connection() as conn:
        too_many = (store.count_failures(conn, [email_key], now - window) >= config["LOGIN_MAX_FAILURES"]
                    or store.count_failures(conn, [ip_key], now - window) >= config["LOGIN_MAX_FAILURES"] * 4)
        user = None if too_many else auth_store.find_user_by_email(conn, email)
    if too_many:
        return _render_login(email, f"Too many failed sign-ins. Try again in {config['LOGIN_THROTTLE_MINUTES']} minutes.",
                             429)
    ok = passwords.verify_password(user["password_hash"] if user else _DUMMY_HASH, password)
    if not ok or user is None:
        with db.connection() as conn:
            store.record_failure(conn, [email_key, ip_key], now, window)
        return _render_login(email, "Wrong email or password.", 401)
    with db.transaction() as conn:
        store.clear_failures(conn, email_key)
        # Housekeeping rides on sign-ins: both deletes are index range scans of what has lapsed.
        store.delete_expired_sessions(conn, now)
        store.delete_stale_failures(conn, now - window)
    target = session.safe_next(request.form.get("next")) or url_for("web.show_home")
    response = redirect(target)
    session.start_session(response, user["id"])
    response.delete_cookie(session.LOGIN_CSRF_COOKIE, path="/")
    return response


@bp.post("/logout")
@session.login_required
def logout():
    """End the session."""
    response = redirect(url_for("web.show_login"))
    session.end_session(response)
    return response
