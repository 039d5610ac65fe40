"""Dashboard fixtures: users with a role in a space, logged-in clients, seeded traffic, HTML parsing."""
import json
from urllib.parse import urlsplit

import pytest
from bs4 import BeautifulSoup

from app import db as app_db
from app.auth import store as auth_store
from app.lib import passwords
from tests.conftest import bearer

PASSWORD = "correct horse battery"


def make_user(app, email: str, memberships: list[tuple[dict, str]]) -> dict:
    """Create a user (password PASSWORD) with a role in each given space."""
    with app.app_context():
        with app_db.transaction() as conn:
            user = auth_store.create_user(conn, email, passwords.hash_password(PASSWORD))
            for space, role in memberships:
                auth_store.set_membership(conn, space["id"], user["id"], role)
    return user


def html(response) -> BeautifulSoup:
    """The response body parsed as HTML."""
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


def login_form_token(client) -> str:
    """Open /login and return the form's CSRF token (its cookie is now on the client)."""
    page = html(client.get("/login"))
    return page.select_one("input[name=csrf_token]")["value"]


def sign_in(client, email: str, password: str = PASSWORD, **extra):
    """POST the login form as a browser would."""
    token = login_form_token(client)
    return client.post("/login", data={"email": email, "password": password, "csrf_token": token, **extra})


def browser_sign_in(tab, base_url: str, email: str, password: str = PASSWORD, space: dict | None = None) -> None:
    """Sign in through the login form in a Playwright tab; wait for `space`'s deck, or for any page but /login."""
    tab.goto(base_url + "/login")
    tab.fill("input[name=email]", email)
    tab.fill("input[name=password]", password)
    tab.click("#login button[type=submit]")
    tab.wait_for_url(f"**/spaces/{space['slug']}/" if space else lambda url: urlsplit(url).path != "/login")


def csrf_of(client, space_slug: str) -> str:
    """The session's CSRF token, read from the deck page like a browser would."""
    page = html(client.get(f"/spaces/{space_slug}/"))
    return page.select_one("form.logout input[name=csrf_token]")["value"]


@pytest.fixture
def login(app, space):
    """login(role, space=space) → a test client signed in as a new user with that role."""
    counter = iter(range(1000))

    def make(role: str = "viewer", in_space: dict | None = None):
        user = make_user(app, f"{role}{next(counter)}@example.com", [(in_space or space, role)])
        client = app.test_client()
        response = sign_in(client, user["email"])
        assert response.status_code == 302, response.get_data(as_text=True)
        client.user = user
        return client
    return make


def send_event(client, space: dict, **body):
    """POST /events with the space's bearer secret; assert it was accepted."""
    response = client.post("/events", data=json.dumps(body),
                           headers={**bearer(space), "Content-Type": "application/json"})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.json


def send_click(client, space: dict, **fields):
    """POST /clicks with the space's bearer secret; assert it was accepted (the answer carries the uid)."""
    response = client.post("/clicks", data=json.dumps(fields),
                           headers={**bearer(space), "Content-Type": "application/json"})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.json
