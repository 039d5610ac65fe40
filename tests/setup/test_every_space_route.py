"""Every page, partial and form under /spaces/<space>/, taken from the live route map.

A member of one space asking for another space's URL gets 404 on every method the route
accepts (never a page, never a 403 that would reveal the space exists); anonymous visitors are
sent to /login; a POST without the CSRF token is refused before it does anything. New routes
are covered the moment they are registered.
"""
import re

import pytest

from tests.setup.conftest import csrf_of

# Sample values for the route parameters other than <space>.
SAMPLES = {"slug": "promo", "hostname": "go.example.com", "destination_id": "1", "id": "1", "uid": "u1",
           "name": "funnel", "delivery_id": "1", "user_id": "1", "invitation_id": "1", "event": "deposit",
           "kind": "bearer", "chat_id": "-1001234567890"}


def space_routes(app) -> list[tuple[str, str]]:
    """(method, path with the samples filled in, <space> kept) for every rule under /spaces/<space>/."""
    def fill(match: re.Match) -> str:
        name = match.group(1)
        if name == "space":
            return "<space>"
        assert name in SAMPLES, f"add a sample value for <{name}>"
        return SAMPLES[name]

    found = []
    for rule in app.url_map.iter_rules():
        # The websocket answers only an upgrade; its ownership check is in tests/dashboard/test_live.py.
        if rule.rule.startswith("/spaces/<space>") and not rule.rule.endswith("/ws"):
            path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", fill, rule.rule)
            found.extend((method, path) for method in sorted(rule.methods - {"HEAD", "OPTIONS"}))
    return found


def test_the_route_map_has_every_setup_screen(app):
    paths = {path for _, path in space_routes(app)}
    for screen in ("links/", "keys/", "destinations/", "domains/", "members/", "received/", "settings", "telegram/"):
        assert any(p.startswith(f"/spaces/<space>/{screen}") for p in paths), screen


def test_another_spaces_routes_answer_404_for_every_method(app, login, space, other_space):
    outsider = login("admin", in_space=other_space)
    token = csrf_of(outsider, other_space["slug"])
    routes = space_routes(app)
    assert len(routes) > 30
    for method, template in routes:
        path = template.replace("<space>", space["slug"])
        response = outsider.open(path, method=method, data={"csrf_token": token},
                                 headers={"X-CSRF-Token": token})
        assert response.status_code == 404, (method, path, response.status_code)


def test_anonymous_visitors_are_sent_to_login_from_every_route(app, client, space):
    for method, template in space_routes(app):
        path = template.replace("<space>", space["slug"])
        response = client.open(path, method=method)
        assert response.status_code in (302, 401), (method, path, response.status_code)
        if response.status_code == 302:
            assert response.headers["Location"].startswith("/login"), (method, path)


@pytest.mark.parametrize("role", ["viewer", "admin"])
def test_every_post_without_the_csrf_token_is_refused(app, login, space, role):
    member = login(role)
    for method, template in space_routes(app):
        if method != "POST":
            continue
        path = template.replace("<space>", space["slug"])
        response = member.post(path, data={})
        assert response.status_code == 403, (path, response.status_code)
