"""What every setup screen shares: the member space, 404s, the switcher's spaces, rendering, done notices."""
from typing import NoReturn

from flask import abort, g, redirect, render_template, request, url_for

from app import db
from app.web import session
from app.web import store as web_store


def open_space(slug: str, min_role: str = "viewer") -> dict:
    """The member space `slug` (404 when not a member, 403 below `min_role`)."""
    return session.member_space(slug, min_role)


def not_found(what: str) -> NoReturn:
    """Answer 404 "no such <what> in this space": another space's row looks like no row at all."""
    abort(404, description=f"no such {what} in this space")


def found(row: dict | None, what: str) -> dict:
    """`row`, or a 404 when the space has no such `what`."""
    if row is None:
        not_found(what)
    return row


def can(space: dict, role: str) -> bool:
    """Whether the signed-in user's role in `space` is at least `role`."""
    return web_store.ROLE_RANK[space["role"]] >= web_store.ROLE_RANK[role]


def render_screen(template: str, space: dict, current: str, status: int = 200, **context):
    """Render a setup screen (templates/setup/layout.html) with the switcher's spaces."""
    with db.connection() as conn:
        spaces = web_store.list_user_spaces(conn, g.user["id"])
    return render_template(template, space=space, spaces=spaces, current=current, **context), status


def notice(messages: dict) -> str | None:
    """The message for the ?done= code a form's redirect carries (None without one)."""
    return messages.get(request.args.get("done", ""))


def done(endpoint: str, space: dict, code: str):
    """Redirect a form's POST to `endpoint` of `space`, with ?done=`code` for the notice shown there."""
    return redirect(url_for(endpoint, space=space["slug"], done=code))
