"""Login, logout, sessions, CSRF, failed-login throttling, the space switcher, roles and ownership."""
from tests.dashboard.conftest import PASSWORD, csrf_of, html, make_user, sign_in


def test_it_signs_in_and_lands_on_the_first_space_deck(app, client, space):
    make_user(app, "alice@example.com", [(space, "viewer")])
    response = sign_in(client, "alice@example.com")
    assert response.status_code == 302
    cookie = response.headers.getlist("Set-Cookie")
    session_cookie = next(c for c in cookie if c.startswith("xt_session="))
    assert "HttpOnly" in session_cookie and "SameSite=Lax" in session_cookie
    home = client.get("/")
    assert home.status_code == 302 and home.headers["Location"] == f"/spaces/{space['slug']}/"
    deck = client.get(home.headers["Location"])
    assert deck.status_code == 200
    page = html(deck)
    for widget in ("funnel", "gauge", "revenue", "feed", "map", "attribution"):
        assert page.select_one(f"#{widget}") is not None, widget


def test_it_marks_the_session_cookie_secure_behind_https(servers, clock, space):
    from app import close_app, create_app
    from tests.conftest import settings
    secure_app = create_app(settings(servers, CLOCK=clock, PUBLIC_URL="https://xt.example.com"))
    try:
        make_user(secure_app, "alice@example.com", [(space, "viewer")])
        response = sign_in(secure_app.test_client(), "alice@example.com")
        session_cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("xt_session="))
        assert "Secure" in session_cookie
    finally:
        close_app(secure_app)


def test_it_sends_anonymous_visitors_to_login(client, space):
    assert client.get("/").headers["Location"] == "/login"
    response = client.get(f"/spaces/{space['slug']}/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login?next=")
    partial = client.get(f"/spaces/{space['slug']}/partials/funnel", headers={"HX-Request": "true"})
    assert partial.status_code == 401 and partial.headers["HX-Redirect"].startswith("/login")


def test_it_returns_to_the_requested_page_after_login_but_never_off_site(app, client, space):
    make_user(app, "alice@example.com", [(space, "viewer")])
    target = f"/spaces/{space['slug']}/?range=today"
    assert sign_in(client, "alice@example.com", next=target).headers["Location"] == target
    other = app.test_client()
    assert sign_in(other, "alice@example.com", next="//evil.example.com/x").headers["Location"] == "/"


def test_it_rejects_a_wrong_password_without_saying_which_part_was_wrong(app, client, space):
    make_user(app, "alice@example.com", [(space, "viewer")])
    wrong = sign_in(client, "alice@example.com", password="not the password")
    unknown = sign_in(client, "nobody@example.com")
    assert wrong.status_code == unknown.status_code == 401
    assert html(wrong).select_one("#login-error").text == html(unknown).select_one("#login-error").text
    assert client.get(f"/spaces/{space['slug']}/").status_code == 302


def test_it_throttles_failed_logins_per_email(app, client, clock, space):
    make_user(app, "alice@example.com", [(space, "viewer")])
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        assert sign_in(client, "alice@example.com", password="wrong wrong").status_code == 401
    locked = sign_in(client, "alice@example.com")
    assert locked.status_code == 429
    assert "Too many failed sign-ins" in html(locked).select_one("#login-error").text
    clock.advance(minutes=app.config["LOGIN_THROTTLE_MINUTES"] + 1)
    assert sign_in(client, "alice@example.com").status_code == 302


def test_it_refuses_a_login_post_without_the_form_token(app, client, space):
    make_user(app, "alice@example.com", [(space, "viewer")])
    client.get("/login")
    response = client.post("/login", data={"email": "alice@example.com", "password": PASSWORD, "csrf_token": "forged"})
    assert response.status_code == 403


def test_it_logs_out_and_the_old_cookie_stops_working(login, space):
    client = login("viewer")
    token = csrf_of(client, space["slug"])
    cookie = client.get_cookie("xt_session").value
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    replay = client.application.test_client()
    replay.set_cookie("xt_session", cookie)
    assert replay.get(f"/spaces/{space['slug']}/").status_code == 302


def test_it_rejects_state_changes_without_the_csrf_token(login, space):
    client = login("viewer")
    assert client.post("/logout").status_code == 403
    assert client.post("/logout", headers={"X-CSRF-Token": "forged"}).status_code == 403
    token = csrf_of(client, space["slug"])
    assert client.post("/logout", headers={"X-CSRF-Token": token, "HX-Request": "true"}).status_code == 302


def test_it_lists_only_the_users_spaces_in_the_switcher(app, space, other_space):
    from tests.conftest import make_space
    third = make_space(app, "Carol Funnel")
    make_user(app, "alice@example.com", [(space, "viewer"), (third, "admin")])
    client = app.test_client()
    sign_in(client, "alice@example.com")
    page = html(client.get(f"/spaces/{space['slug']}/"))
    names = [a.text for a in page.select("#space-switcher li:not(.sep) a")]
    assert names == ["Alice Funnel", "Carol Funnel"]
    assert client.get(f"/spaces/{third['slug']}/").status_code == 200


def test_it_checks_ownership(login, space, other_space):
    client = login("admin")
    assert client.get(f"/spaces/{other_space['slug']}/").status_code == 404
    for name in ("funnel", "gauge", "revenue", "feed", "map", "attribution"):
        assert client.get(f"/spaces/{other_space['slug']}/partials/{name}").status_code == 404, name
    assert client.get(f"/spaces/{other_space['slug']}/sse").status_code == 404
    assert client.get("/spaces/no-such-space/").status_code == 404


def test_it_ends_a_session_after_its_lifetime(login, space, clock, app):
    client = login("viewer")
    assert client.get(f"/spaces/{space['slug']}/").status_code == 200
    clock.advance(hours=app.config["SESSION_HOURS"] + 1)
    assert client.get(f"/spaces/{space['slug']}/").status_code == 302


def test_it_tells_a_user_without_spaces_to_ask_for_access(app, client):
    make_user(app, "lonely@example.com", [])
    sign_in(client, "lonely@example.com")
    page = html(client.get("/"))
    assert "not a member of any space" in page.find(id="spaces").text
    assert html(client.get("/spaces/")).find(id="spaces") is not None


def test_it_throttles_failed_logins_per_visitor_behind_a_trusted_proxy(app, client, clock, space):
    from tests.dashboard.conftest import login_form_token
    make_user(app, "alice@example.com", [(space, "viewer")])

    def attempt(email: str, forwarded_for: str, password: str = "wrong wrong"):
        token = login_form_token(client)
        return client.post("/login", data={"email": email, "password": password, "csrf_token": token},
                           headers={"X-Forwarded-For": forwarded_for})
    for n in range(app.config["LOGIN_MAX_FAILURES"] * 4):
        assert attempt(f"guess{n}@example.com", "203.0.113.1:40000").status_code == 401
    # The same visitor however the proxy writes its address; another visitor is not affected.
    assert attempt("alice@example.com", "::ffff:203.0.113.1", password=PASSWORD).status_code == 429
    assert attempt("alice@example.com", "203.0.113.2:51000", password=PASSWORD).status_code == 302
