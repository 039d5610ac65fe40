"""`flask --app wsgi user reset-password EMAIL`: a new password, the old one refused, every old session ended."""
import json

from bs4 import BeautifulSoup

from tests.test_cli import cli

OLD, NEW = "first password 123", "second password 456"


def sign_in(client, email: str, password: str):
    """The login form as a browser posts it; returns the response (302 when signed in)."""
    page = BeautifulSoup(client.get("/login").get_data(as_text=True), "html.parser")
    token = page.select_one("input[name=csrf_token]")["value"]
    return client.post("/login", data={"email": email, "password": password, "csrf_token": token})


def test_reset_password_sets_the_new_one_refuses_the_old_and_ends_open_sessions(servers, app, db):
    assert cli(servers, "space", "create", "Team", "--json").returncode == 0
    done = cli(servers, "user", "create", "ops@example.com", "--space", "team", "--json", stdin=OLD + "\n")
    assert done.returncode == 0, done.stderr
    first, second = app.test_client(), app.test_client()
    assert sign_in(first, "ops@example.com", OLD).status_code == 302
    assert sign_in(second, "ops@example.com", OLD).status_code == 302
    assert first.get("/spaces/team/").status_code == 200
    bystander = cli(servers, "user", "create", "other@example.com", "--space", "team", "--json", stdin=OLD + "\n")
    assert bystander.returncode == 0
    third = app.test_client()
    assert sign_in(third, "other@example.com", OLD).status_code == 302

    done = cli(servers, "user", "reset-password", "Ops@Example.com", "--json", stdin=NEW + "\n")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"email": "ops@example.com", "reset": True}

    # Both open sessions of that user are over: the deck sends them to the login page.
    for client in (first, second):
        response = client.get("/spaces/team/")
        assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert db.execute("SELECT count(*) AS n FROM user_sessions s JOIN users u ON u.id = s.user_id"
                      " WHERE u.email = 'ops@example.com'").fetchone()["n"] == 0
    # Another user's session is untouched.
    assert third.get("/spaces/team/").status_code == 200
    fresh = app.test_client()
    assert sign_in(fresh, "ops@example.com", OLD).status_code == 401
    assert sign_in(fresh, "ops@example.com", NEW).status_code == 302
    assert fresh.get("/spaces/team/").status_code == 200


def test_reset_password_prints_plain_text_without_json(servers):
    cli(servers, "space", "create", "Team", "--json")
    cli(servers, "user", "create", "ops@example.com", "--space", "team", "--json", stdin=OLD + "\n")
    done = cli(servers, "user", "reset-password", "ops@example.com", "--password-stdin", stdin=NEW + "\n")
    assert done.returncode == 0, done.stderr
    assert "ops@example.com" in done.stdout and NEW not in done.stdout + done.stderr


def test_reset_password_of_an_unknown_email_fails_clearly_and_changes_nothing(servers, db):
    cli(servers, "space", "create", "Team", "--json")
    cli(servers, "user", "create", "ops@example.com", "--space", "team", "--json", stdin=OLD + "\n")
    before = db.execute("SELECT password_hash FROM users").fetchone()["password_hash"]
    done = cli(servers, "user", "reset-password", "nobody@example.com", "--json", stdin=NEW + "\n")
    assert done.returncode != 0
    error = json.loads(done.stdout)
    assert error["ok"] is False and "nobody@example.com" in error["error"] and "no user" in error["error"]
    text = cli(servers, "user", "reset-password", "nobody@example.com", stdin=NEW + "\n")
    assert text.returncode != 0 and "no user" in text.stderr
    assert db.execute("SELECT password_hash FROM users").fetchone()["password_hash"] == before


def test_reset_password_refuses_a_short_password(servers, db):
    cli(servers, "space", "create", "Team", "--json")
    cli(servers, "user", "create", "ops@example.com", "--space", "team", "--json", stdin=OLD + "\n")
    done = cli(servers, "user", "reset-password", "ops@example.com", "--json", stdin="short\n")
    assert done.returncode == 1 and "at least" in json.loads(done.stdout)["error"]


def test_reset_password_without_a_terminal_or_stdin_says_how_to_send_one(servers, db):
    cli(servers, "space", "create", "Team", "--json")
    cli(servers, "user", "create", "ops@example.com", "--space", "team", "--json", stdin=OLD + "\n")
    done = cli(servers, "user", "reset-password", "ops@example.com", "--json", stdin="")
    error = json.loads(done.stdout)["error"]
    assert done.returncode == 1 and "--password-stdin" in error and "at least" not in error
