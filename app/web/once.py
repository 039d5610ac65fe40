"""Forms that act once: a reload or a double click never creates, rotates or sends anything twice.

Every form rendered with the `csrf()` macro carries a random `form_token`. A view decorated with
`@once` records (user, token) before it acts; the same token again, from a reload of the answer,
a browser resubmitting the POST or a second click, is answered with the first submission's
redirect (303) instead of acting again. A submission that failed validation (4xx) forgets its
token, so the corrected form can be sent. Views answer with Post/Redirect/Get; a secret created by
the action (a webhook signing secret, new API keys, an invitation link) is held encrypted in the
token's row and revealed by the redirect's page exactly once (`take_secret`).
"""
import json
import secrets
import time
from datetime import timedelta
from functools import wraps

from flask import current_app, g, make_response, redirect, render_template, request

from app import db, services
from app.lib import clock, secretbox

FIELD = "form_token"
# How long a token is remembered (and an unrevealed secret kept).
KEEP = timedelta(hours=24)
# How long a repeated submission waits for the first one to finish before it is told so.
WAIT_SECONDS = 5.0


def new_token() -> str:
    """A fresh form token (the `csrf()` macro puts one in every form)."""
    return secrets.token_urlsafe(18)


def _key() -> bytes:
    return services.of(current_app).form_key


def _token() -> str | None:
    raw = request.form.get(FIELD, "")
    return raw if 16 <= len(raw) <= 64 and raw.replace("-", "").replace("_", "").isalnum() else None


def _claim(token: str, space_id: int | None) -> bool:
    """Record the token; False when it was seen before."""
    now = clock.now()
    with db.transaction() as conn:
        conn.execute("DELETE FROM form_submissions WHERE user_id = %(user)s AND created_at < %(old)s",
                     {"user": g.user["id"], "old": now - KEEP})
        row = conn.execute(
            "INSERT INTO form_submissions (user_id, token, space_id, created_at)"
            " VALUES (%(user)s, %(token)s, %(space)s, %(now)s) ON CONFLICT (user_id, token) DO NOTHING"
            " RETURNING 1",
            {"user": g.user["id"], "token": token, "space": space_id, "now": now}).fetchone()
    return row is not None


def _result(token: str) -> str | None:
    """The first submission's redirect, '' when it rendered its answer, None while it runs."""
    with db.connection() as conn:
        row = conn.execute("SELECT result_url FROM form_submissions WHERE user_id = %(user)s AND token = %(token)s",
                           {"user": g.user["id"], "token": token}).fetchone()
    return row["result_url"] if row else None


def _finish(token: str, response) -> None:
    with db.transaction() as conn:
        if response.status_code >= 400:
            conn.execute("DELETE FROM form_submissions WHERE user_id = %(user)s AND token = %(token)s",
                         {"user": g.user["id"], "token": token})
        else:
            # A redirect's target answers a repeat; a rendered answer ('') is only reported as done.
            url = response.location if 300 <= response.status_code < 400 and response.location else ""
            conn.execute("UPDATE form_submissions SET result_url = %(url)s"
                         " WHERE user_id = %(user)s AND token = %(token)s",
                         {"user": g.user["id"], "token": token, "url": url})


def _repeated(token: str):
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        url = _result(token)
        if url:
            return redirect(url, 303)
        if url == "":
            break
        if time.monotonic() >= deadline:
            break
        time.sleep(0.2)
    if request.headers.get("HX-Request"):
        return make_response("<p class=\"warning\" id=\"form-repeated\">This form was already sent.</p>", 409)
    return make_response(render_template("auth/error.html", status=409,
                                         message="This form was already sent once; nothing was done again."
                                                 " Go back and reload the page to start afresh."), 409)


def once(view):
    """Run `view` at most once per form token (see the module docstring); `g.form_token` is the token."""
    @wraps(view)
    def wrapper(*args, **kwargs):
        token = _token()
        g.form_token = token
        if token is None:
            return view(*args, **kwargs)
        space = getattr(g, "space", None)
        if not _claim(token, None if space is None else space.get("id")):
            return _repeated(token)
        try:
            response = make_response(view(*args, **kwargs))
        except Exception:
            with db.transaction() as conn:
                conn.execute("DELETE FROM form_submissions WHERE user_id = %(user)s AND token = %(token)s",
                             {"user": g.user["id"], "token": token})
            raise
        _finish(token, response)
        return response
    return wrapper


def hold_secret(space_id: int, values: dict[str, str]) -> str:
    """Keep `values` (secrets by name) encrypted for one reveal; return the reveal id for the redirect.

    The id is the submission's form token when there is one (so a repeated submission redirects to
    the same reveal), else a fresh one.
    """
    token = g.get("form_token") or new_token()
    sealed = secretbox.seal(_key(), json.dumps(values), f"reveal:{g.user['id']}:{space_id}:{token}")
    with db.transaction() as conn:
        conn.execute(
            "INSERT INTO form_submissions (user_id, token, space_id, created_at, secret)"
            " VALUES (%(user)s, %(token)s, %(space)s, %(now)s, %(secret)s)"
            " ON CONFLICT (user_id, token) DO UPDATE SET secret = EXCLUDED.secret, space_id = EXCLUDED.space_id",
            {"user": g.user["id"], "token": token, "space": space_id, "now": clock.now(), "secret": sealed})
    return token


def take_secret(space_id: int, reveal: str | None) -> dict[str, str] | None:
    """The secrets held under `reveal` for this user and space, once; None when gone or never there."""
    if not reveal or len(reveal) > 64:
        return None
    with db.transaction() as conn:
        row = conn.execute(
            "UPDATE form_submissions f SET secret = NULL FROM form_submissions old"
            " WHERE f.user_id = %(user)s AND f.token = %(token)s AND f.space_id = %(space)s"
            "   AND f.secret IS NOT NULL AND f.created_at > %(old)s"
            "   AND old.user_id = f.user_id AND old.token = f.token"
            " RETURNING old.secret",
            {"user": g.user["id"], "token": reveal, "space": space_id, "old": clock.now() - KEEP}).fetchone()
    if row is None:
        return None
    try:
        return json.loads(secretbox.open_sealed(_key(), row["secret"], f"reveal:{g.user['id']}:{space_id}:{reveal}"))
    except secretbox.SealError:
        return None


def no_store(response):
    """Mark a page that shows a secret as never cached."""
    response.headers["Cache-Control"] = "no-store"
    return response
