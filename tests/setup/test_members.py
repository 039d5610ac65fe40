"""The members screen (/spaces/<space>/members/) and invitations (/invite/<token>)."""
import hashlib
from datetime import timedelta

import pytest

from tests.setup.conftest import PASSWORD, csrf_of, html, make_user, sign_in


def members_url(space: dict, tail: str = "") -> str:
    return f"/spaces/{space['slug']}/members/{tail}"


def post(client, space: dict, tail: str = "", **data):
    return client.post(members_url(space, tail), data={"csrf_token": csrf_of(client, space["slug"]), **data})


def member_role(db, space: dict, user_id: int) -> str | None:
    row = db.execute("SELECT role FROM memberships WHERE space_id = %s AND user_id = %s",
                     (space["id"], user_id)).fetchone()
    return row["role"] if row else None


def invite(client, space: dict, email: str = "newcomer@example.com", role: str = "operator") -> str:
    """Invite an email without an account; return the token from the link shown once."""
    response = client.post(members_url(space), data={"csrf_token": csrf_of(client, space["slug"]), "email": email,
                                                     "role": role}, follow_redirects=True)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    url = html(response).select_one("#invitation-url").text
    assert url.startswith("http://localhost:8000/invite/")
    return url.rsplit("/", 1)[1]


def invite_form_token(client, token: str) -> str:
    return html(client.get(f"/invite/{token}")).select_one("#invite-form input[name=csrf_token]")["value"]


def accept(client, token: str, password: str = PASSWORD, confirm: str | None = None,
           email: str = "newcomer@example.com"):
    """Create an account from the invitation page (signed out) and join."""
    form_token = invite_form_token(client, token)
    return client.post(f"/invite/{token}", data={"csrf_token": form_token, "intent": "create", "email": email,
                                                 "password": password,
                                                 "password_confirm": password if confirm is None else confirm})


def join(client, token: str):
    """Press "Join" on the invitation page as the signed-in user."""
    form_token = html(client.get(f"/invite/{token}")).select_one("#join-form input[name=csrf_token]")["value"]
    return client.post(f"/invite/{token}", data={"csrf_token": form_token, "intent": "join"})


# The list

def test_it_lists_members_with_role_and_since_to_viewers_without_controls(app, login, space):
    admin_user = make_user(app, "boss@example.com", [(space, "admin")])
    for role in ("viewer", "operator"):
        client = login(role)
        response = client.get(members_url(space))
        assert response.status_code == 200
        page = html(response)
        assert page.select_one("#tab-members")["class"] == ["active"]
        row = page.select_one(f"#member-{admin_user['id']}")
        assert row.select_one(".email").text.strip() == "boss@example.com"
        assert row.select_one(".role").text.strip() == "admin"
        assert row.select_one(".since").text.strip() == admin_user["created_at"].strftime("%Y-%m-%d")
        assert page.select_one("#add-member-form") is None
        assert page.select("form[id^=role-form-]") == [] and page.select("form[id^=remove-form-]") == []


def test_it_shows_admins_the_controls(login, space):
    admin = login("admin")
    page = html(admin.get(members_url(space)))
    assert page.select_one("#add-member-form") is not None
    assert page.select_one(f"#role-form-{admin.user['id']}") is not None
    assert page.select_one("#last-admin-note") is not None


def test_it_sends_anonymous_visitors_to_login(client, space):
    assert client.get(members_url(space)).headers["Location"].startswith("/login?next=")
    for tail in ("", "1/role", "1/remove", "invitations/1/revoke"):
        response = client.post(members_url(space, tail), data={"email": "x@example.com", "role": "admin"})
        assert response.status_code == 302 and response.headers["Location"].startswith("/login")


# Adding an existing user

def test_adding_an_existing_account_only_creates_an_invitation(app, login, db, space):
    bob = make_user(app, "bob@example.com", [])
    admin = login("admin")
    token = invite(admin, space, "  Bob@Example.COM ", "operator")
    assert member_role(db, space, bob["id"]) is None
    row = db.execute("SELECT email, role FROM invitations WHERE space_id = %s", (space["id"],)).fetchone()
    assert row == {"email": "bob@example.com", "role": "operator"}
    # Bob joins once he accepts, signed in with his own account.
    bob_client = app.test_client()
    sign_in(bob_client, "bob@example.com")
    assert join(bob_client, token).headers["Location"] == f"/spaces/{space['slug']}/"
    assert member_role(db, space, bob["id"]) == "operator"


def test_the_screen_answers_the_same_whether_or_not_an_account_exists(app, login, space):
    make_user(app, "bob@example.com", [])
    admin = login("admin")

    def answer(email):
        response = post(admin, space, email=email, role="viewer")
        shown = admin.get(response.headers["Location"])
        page = html(shown)
        return (response.status_code, sorted(response.headers.keys()), shown.status_code,
                page.select_one("#notice").text.replace(email, "EMAIL"),
                [e.text for e in page.select(".error")], sorted(shown.headers.keys()))

    assert answer("bob@example.com") == answer("nobody@example.com")


def test_it_refuses_to_add_someone_already_a_member(app, login, db, space):
    bob = make_user(app, "bob@example.com", [(space, "viewer")])
    response = post(login("admin"), space, email="BOB@example.com", role="admin")
    assert response.status_code == 400
    page = html(response)
    assert "already a member" in page.select_one("#e-email").text
    assert page.select_one("#f-email")["value"] == "BOB@example.com"
    assert member_role(db, space, bob["id"]) == "viewer"


@pytest.mark.parametrize("email, role, field", [
    ("not-an-email", "viewer", "email"),
    ("", "viewer", "email"),
    ("a b@example.com", "viewer", "email"),
    ("ann@localhost", "viewer", "email"),
    ("x" * 250 + "@example.com", "viewer", "email"),
    ("carol@example.com", "owner", "role"),
])
def test_it_re_renders_the_add_form_with_the_values_and_the_error(login, db, space, email, role, field):
    response = post(login("admin"), space, email=email, role=role)
    assert response.status_code == 400
    page = html(response)
    assert page.select_one(f"#e-{field}") is not None
    assert page.select_one("#f-email")["value"] == email
    assert db.execute("SELECT count(*) AS n FROM invitations").fetchone()["n"] == 0


def test_it_refuses_admin_actions_below_admin(app, login, db, space):
    bob = make_user(app, "bob@example.com", [(space, "viewer")])
    other = make_user(app, "carol@example.com", [])
    admin = login("admin")
    invite(admin, space, "dave@example.com")
    invitation_id = db.execute("SELECT id FROM invitations").fetchone()["id"]
    for role in ("viewer", "operator"):
        client = login(role)
        assert post(client, space, email="carol@example.com", role="admin").status_code == 403
        assert post(client, space, f"{bob['id']}/role", role="admin").status_code == 403
        assert post(client, space, f"{bob['id']}/remove").status_code == 403
        assert post(client, space, f"invitations/{invitation_id}/revoke").status_code == 403
    assert member_role(db, space, bob["id"]) == "viewer"
    assert member_role(db, space, other["id"]) is None
    assert db.execute("SELECT count(*) AS n FROM invitations").fetchone()["n"] == 1


def test_it_checks_ownership(app, login, db, space, other_space):
    bob = make_user(app, "bob@example.com", [(other_space, "viewer")])
    # A member of another space sees neither this space's members nor can post to them.
    outsider = login("admin", in_space=other_space)
    assert outsider.get(members_url(space)).status_code == 404
    token = csrf_of(outsider, other_space["slug"])
    for tail, data in (("", {"email": "x@example.com", "role": "admin"}), (f"{bob['id']}/role", {"role": "admin"}),
                       (f"{bob['id']}/remove", {})):
        assert outsider.post(members_url(space, tail), data={"csrf_token": token, **data}).status_code == 404
    # This space's admin cannot reach another space's member or invitation through this space.
    admin = login("admin")
    assert post(admin, space, f"{bob['id']}/role", role="admin").status_code == 404
    assert post(admin, space, f"{bob['id']}/remove").status_code == 404
    invite(outsider, other_space, "dave@example.com")
    their_invitation = db.execute("SELECT id FROM invitations WHERE space_id = %s", (other_space["id"],)).fetchone()
    assert post(admin, space, f"invitations/{their_invitation['id']}/revoke").status_code == 404
    assert member_role(db, other_space, bob["id"]) == "viewer"
    assert db.execute("SELECT count(*) AS n FROM invitations").fetchone()["n"] == 1


def test_it_refuses_posts_without_the_csrf_token(app, login, db, space):
    bob = make_user(app, "bob@example.com", [(space, "viewer")])
    make_user(app, "carol@example.com", [])
    admin = login("admin")
    for tail, data in (("", {"email": "carol@example.com", "role": "admin"}), (f"{bob['id']}/role", {"role": "admin"}),
                       (f"{bob['id']}/remove", {}), ("invitations/1/revoke", {})):
        assert admin.post(members_url(space, tail), data=data).status_code == 403
    assert member_role(db, space, bob["id"]) == "viewer"
    assert db.execute("SELECT count(*) AS n FROM memberships WHERE space_id = %s", (space["id"],)).fetchone()["n"] == 2


# Roles and removal

def test_it_changes_a_members_role(app, login, db, space):
    bob = make_user(app, "bob@example.com", [(space, "viewer")])
    admin = login("admin")
    response = post(admin, space, f"{bob['id']}/role", role="operator")
    assert response.headers["Location"] == members_url(space) + "?done=role_changed"
    assert member_role(db, space, bob["id"]) == "operator"
    assert html(admin.get(response.headers["Location"])).select_one("#notice").text == "Role changed."


def test_it_refuses_an_unknown_role(app, login, db, space):
    bob = make_user(app, "bob@example.com", [(space, "viewer")])
    response = post(login("admin"), space, f"{bob['id']}/role", role="superuser")
    assert response.status_code == 400
    assert html(response).select_one(f"#e-member-{bob['id']}") is not None
    assert member_role(db, space, bob["id"]) == "viewer"


def test_it_never_demotes_or_removes_the_last_admin(login, db, space):
    admin = login("admin")
    me = admin.user["id"]
    for tail, data in ((f"{me}/role", {"role": "viewer"}), (f"{me}/remove", {})):
        response = post(admin, space, tail, **data)
        assert response.status_code == 400
        error = html(response).select_one(f"#e-member-{me}")
        assert "at least one admin" in error.text
    assert member_role(db, space, me) == "admin"


def test_it_lets_an_admin_step_down_when_another_admin_remains(app, login, db, space):
    other = make_user(app, "second@example.com", [(space, "admin")])
    admin = login("admin")
    me = admin.user["id"]
    assert post(admin, space, f"{me}/role", role="viewer").status_code == 302
    assert member_role(db, space, me) == "viewer"
    assert member_role(db, space, other["id"]) == "admin"
    # Now a viewer, the former admin reads the list without controls.
    page = html(admin.get(members_url(space)))
    assert page.select_one("#add-member-form") is None


def test_it_removes_a_member_and_their_access(app, client, login, db, space):
    make_user(app, "bob@example.com", [(space, "viewer")])
    sign_in(client, "bob@example.com")
    assert client.get(f"/spaces/{space['slug']}/").status_code == 200
    bob_id = db.execute("SELECT id FROM users WHERE email = 'bob@example.com'").fetchone()["id"]
    admin = login("admin")
    response = post(admin, space, f"{bob_id}/remove")
    assert response.headers["Location"] == members_url(space) + "?done=removed"
    assert member_role(db, space, bob_id) is None
    assert client.get(f"/spaces/{space['slug']}/").status_code == 404


def test_an_admin_who_leaves_goes_to_the_space_list(app, login, db, space):
    make_user(app, "second@example.com", [(space, "admin")])
    admin = login("admin")
    response = post(admin, space, f"{admin.user['id']}/remove")
    assert response.headers["Location"] == "/spaces/"
    assert member_role(db, space, admin.user["id"]) is None


# Invitations

def test_it_invites_an_email_without_an_account_and_stores_only_the_digest(login, db, space, clock):
    admin = login("admin")
    token = invite(admin, space, "NewComer@Example.com", "operator")
    row = db.execute("SELECT email, role, token_hash, invited_by, created_at, expires_at, accepted_at"
                     " FROM invitations WHERE space_id = %s", (space["id"],)).fetchone()
    assert row["email"] == "newcomer@example.com" and row["role"] == "operator"
    assert bytes(row["token_hash"]) == hashlib.sha256(token.encode()).digest()
    assert row["invited_by"] == admin.user["id"]
    assert row["expires_at"] - row["created_at"] == timedelta(days=7)
    assert row["created_at"] == clock.now and row["accepted_at"] is None
    page = html(admin.get(members_url(space)))
    assert page.select_one("#invitation-url") is None
    listed = page.select("#invitations tbody tr")
    assert len(listed) == 1 and listed[0].select_one(".email").text == "newcomer@example.com"
    assert token not in admin.get(members_url(space)).get_data(as_text=True)


def test_the_invitee_chooses_a_password_joins_and_is_signed_in(app, login, db, space):
    token = invite(login("admin"), space, "newcomer@example.com", "operator")
    invitee = app.test_client()
    page = html(invitee.get(f"/invite/{token}"))
    assert page.select_one("#invite-email").text == "newcomer@example.com"
    assert page.select_one("#invite-role").text == "operator"
    response = accept(invitee, token, "a new long password")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/spaces/{space['slug']}/"
    assert invitee.get(response.headers["Location"]).status_code == 200
    user = db.execute("SELECT id FROM users WHERE email = 'newcomer@example.com'").fetchone()
    assert member_role(db, space, user["id"]) == "operator"
    # The chosen password signs in later.
    assert sign_in(app.test_client(), "newcomer@example.com", "a new long password").status_code == 302
    assert db.execute("SELECT count(*) AS n FROM invitations WHERE accepted_at IS NULL").fetchone()["n"] == 0


@pytest.mark.parametrize("password, confirm, field", [
    ("short", "short", "password"),
    ("a new long password", "a different password", "password_confirm"),
    ("x" * 1025, "x" * 1025, "password"),
])
def test_it_re_renders_the_invitation_with_the_password_error(app, login, db, space, password, confirm, field):
    token = invite(login("admin"), space)
    invitee = app.test_client()
    response = accept(invitee, token, password, confirm)
    assert response.status_code == 400
    page = html(response)
    assert page.select_one(f"#e-{field}") is not None
    assert page.select_one("#invite-email").text == "newcomer@example.com"
    assert db.execute("SELECT count(*) AS n FROM users WHERE email = 'newcomer@example.com'").fetchone()["n"] == 0
    assert accept(invitee, token).status_code == 302


def test_an_invitation_works_once(app, login, space):
    token = invite(login("admin"), space)
    assert accept(app.test_client(), token).status_code == 302
    again = app.test_client()
    response = again.get(f"/invite/{token}")
    assert response.status_code == 410
    assert html(response).select_one("#invite-gone")["data-reason"] == "used"
    client = app.test_client()
    client.get("/login")
    form_token = client.get_cookie("xt_login_csrf").value
    posted = client.post(f"/invite/{token}", data={"csrf_token": form_token, "intent": "create", "password": "another password!",
                                                    "password_confirm": "another password!"})
    assert posted.status_code == 410


def test_an_invitation_expires_after_seven_days(app, login, db, space, clock):
    admin = login("admin")
    token = invite(admin, space)
    invitee = app.test_client()
    form_token = invite_form_token(invitee, token)
    clock.advance(days=7)
    response = invitee.get(f"/invite/{token}")
    assert response.status_code == 410
    assert html(response).select_one("#invite-gone")["data-reason"] == "expired"
    posted = invitee.post(f"/invite/{token}", data={"csrf_token": form_token, "intent": "create", "password": PASSWORD,
                                                     "password_confirm": PASSWORD})
    assert posted.status_code == 410
    assert db.execute("SELECT count(*) AS n FROM users WHERE email = 'newcomer@example.com'").fetchone()["n"] == 0
    assert html(admin.get(members_url(space))).select_one("#invitations .badge.bad").text == "expired"


def test_an_invitation_still_works_just_before_it_expires(app, login, space, clock):
    token = invite(login("admin"), space)
    clock.advance(days=7, seconds=-1)
    assert accept(app.test_client(), token).status_code == 302


def test_an_unknown_token_is_a_404_page(client):
    for token in ("nope", "x" * 300):
        response = client.get(f"/invite/{token}")
        assert response.status_code == 404
        assert html(response).select_one("#invite-gone")["data-reason"] == "unknown"


def test_accepting_needs_the_form_token(app, login, db, space):
    token = invite(login("admin"), space)
    invitee = app.test_client()
    invitee.get(f"/invite/{token}")
    response = invitee.post(f"/invite/{token}", data={"csrf_token": "forged", "intent": "create", "password": PASSWORD,
                                                       "password_confirm": PASSWORD})
    assert response.status_code == 403
    assert db.execute("SELECT count(*) AS n FROM users WHERE email = 'newcomer@example.com'").fetchone()["n"] == 0


def test_a_revoked_invitation_stops_working(app, login, db, space):
    admin = login("admin")
    token = invite(admin, space)
    invitation_id = db.execute("SELECT id FROM invitations").fetchone()["id"]
    response = post(admin, space, f"invitations/{invitation_id}/revoke")
    assert response.headers["Location"] == members_url(space) + "?done=revoked"
    assert app.test_client().get(f"/invite/{token}").status_code == 404
    assert post(admin, space, f"invitations/{invitation_id}/revoke").status_code == 404
    assert html(admin.get(members_url(space))).select_one("#no-invitations") is not None


def test_inviting_the_same_email_again_replaces_the_link(app, login, db, space):
    admin = login("admin")
    first = invite(admin, space, role="viewer")
    second = invite(admin, space, role="admin")
    assert db.execute("SELECT count(*) AS n FROM invitations").fetchone()["n"] == 1
    assert app.test_client().get(f"/invite/{first}").status_code == 404
    assert accept(app.test_client(), second).status_code == 302
    user = db.execute("SELECT id FROM users WHERE email = 'newcomer@example.com'").fetchone()
    assert member_role(db, space, user["id"]) == "admin"


def test_creating_an_account_with_a_taken_email_is_refused_and_grants_nothing(app, login, db, space):
    token = invite(login("admin"), space, "newcomer@example.com", "viewer")
    owner = make_user(app, "newcomer@example.com", [])
    invitee = app.test_client()
    response = accept(invitee, token)
    assert response.status_code == 400
    assert "sign in" in html(response).select_one("#e-email").text
    assert member_role(db, space, owner["id"]) is None
    assert db.execute("SELECT count(*) AS n FROM invitations WHERE accepted_at IS NULL").fetchone()["n"] == 1


def test_the_new_account_may_use_another_email_than_the_invited_one(app, login, db, space):
    token = invite(login("admin"), space, "newcomer@example.com", "viewer")
    response = accept(app.test_client(), token, email="Work@Example.com")
    assert response.status_code == 302
    user = db.execute("SELECT id FROM users WHERE email = 'work@example.com'").fetchone()
    assert member_role(db, space, user["id"]) == "viewer"
    assert db.execute("SELECT count(*) AS n FROM users WHERE email = 'newcomer@example.com'").fetchone()["n"] == 0


def test_a_signed_in_user_accepting_joins_with_their_own_account(app, login, db, space, other_space):
    token = invite(login("admin"), space)
    someone = login("viewer", in_space=other_space)
    page = html(someone.get(f"/invite/{token}"))
    assert page.select_one("#invite-form") is None
    assert someone.user["email"] in page.select_one("#signed-in-as").text
    response = join(someone, token)
    assert response.headers["Location"] == f"/spaces/{space['slug']}/"
    assert html(someone.get(response.headers["Location"])).select_one(".who").text == someone.user["email"]
    assert member_role(db, space, someone.user["id"]) == "operator"
    assert db.execute("SELECT count(*) AS n FROM users WHERE email = 'newcomer@example.com'").fetchone()["n"] == 0


def test_a_signed_out_visitor_who_asks_to_join_signs_in_first_and_comes_back(app, login, db, space):
    token = invite(login("admin"), space)
    bob = make_user(app, "bob@example.com", [])
    visitor = app.test_client()
    page = html(visitor.get(f"/invite/{token}"))
    link = page.select_one("#sign-in-to-accept a")["href"]
    assert link == f"/login?next=/invite/{token}"
    form_token = page.select_one("#invite-form input[name=csrf_token]")["value"]
    refused = visitor.post(f"/invite/{token}", data={"csrf_token": form_token, "intent": "join"})
    assert refused.headers["Location"] == link
    assert member_role(db, space, bob["id"]) is None
    signed_in = sign_in(visitor, "bob@example.com", next=f"/invite/{token}")
    assert signed_in.headers["Location"] == f"/invite/{token}"
    assert join(visitor, token).status_code == 302
    assert member_role(db, space, bob["id"]) == "operator"


def test_accepting_leaves_an_existing_membership_untouched(app, login, db, space):
    admin = login("admin")
    token = invite(admin, space, "someone@example.com", "admin")
    viewer = login("viewer")
    assert join(viewer, token).status_code == 302
    assert member_role(db, space, viewer.user["id"]) == "viewer"
    assert app.test_client().get(f"/invite/{token}").status_code == 410


def test_an_unknown_intent_is_refused(app, login, space):
    token = invite(login("admin"), space)
    client = app.test_client()
    form_token = invite_form_token(client, token)
    assert client.post(f"/invite/{token}", data={"csrf_token": form_token, "intent": "steal"}).status_code == 400
