"""What every setup screen shares: the member space, the switcher's spaces, and rendering."""
from flask import g, render_template

from app import db
from app.web import session
from app.web import store as web_store


def open_space(slug: str, min_role: str = "viewer") -> dict:
    """The member space `slug` (404 when not a member, 403 below `min_role`)."""
    return session.member_space(slug, min_role)


def can(space: dict, role: str) -> bool:
    """Whether the signed-in user's role in `space` is at least `role`."""
    return web_store.ROLE_RANK[space["role"]] >= web_store.ROLE_RANK[role]


def render_screen(template: str, space: dict, current: str, status: int = 200, **context):
    """Render a setup screen (templates/setup/layout.html) with the switcher's spaces."""
    with db.connection() as conn:
        spaces = web_store.list_user_spaces(conn, g.user["id"])
    return render_template(template, space=space, spaces=spaces, current=current, **context), status
