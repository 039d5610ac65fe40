"""Setup-screen fixtures: the dashboard's signed-in clients and HTML helpers."""
from tests.dashboard.conftest import (  # noqa: F401
    PASSWORD, browser_sign_in, csrf_of, html, login, make_user, send_event, sign_in)


def form_token(client, path: str) -> str:
    """The session's CSRF token as a browser would read it from the page at `path`."""
    page = html(client.get(path))
    return page.select_one("form.logout input[name=csrf_token]")["value"]
