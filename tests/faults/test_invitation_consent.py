"""The invitation scenario of the security review: pre-registering someone's email gains nothing.

1. A signed-in attacker creates a space of their own (and is its admin).
2. They "add" the tenant's colleague's email there, read the invitation link off their own screen,
   and accept it signed out, creating an account with that email and a password they chose.
3. The tenant's admin later adds the same email on the tenant's Members screen.
Before consent-only membership, step 3 made the attacker's account a member at once. Now it
creates an invitation whose link only the tenant holds; the attacker's account reads nothing.
"""
from tests.setup.conftest import csrf_of, html, make_user, sign_in

VICTIM = "colleague@tenant.example"
STOLEN_PASSWORD = "attacker chose this password"


def add_member(client, space_slug: str, email: str, role: str = "admin"):
    # The screen answers Post/Redirect/Get: the invitation link is on the page the redirect shows.
    return client.post(f"/spaces/{space_slug}/members/",
                       data={"csrf_token": csrf_of(client, space_slug), "email": email, "role": role},
                       follow_redirects=True)


def invitation_token(response) -> str:
    return html(response).select_one("#invitation-url").text.rsplit("/", 1)[1]


def test_a_pre_registered_email_gets_no_access_to_the_tenant(app, login, db, space, fault_report):
    # 1. The attacker signs in and creates a space of their own.
    attacker = login("viewer", in_space=make_space_for(app))
    token = html(attacker.get("/spaces/new")).select_one("#new-space-form input[name=csrf_token]")["value"]
    created = attacker.post("/spaces/new", data={"csrf_token": token, "name": "Bait", "time_zone": "UTC",
                                                 "currency": "USD"})
    assert created.status_code == 302
    # 2. The attacker invites the colleague's email there and accepts the link themselves.
    bait_invite = add_member(attacker, "bait", VICTIM)
    bait_token = invitation_token(bait_invite)
    squatter = app.test_client()
    page = html(squatter.get(f"/invite/{bait_token}"))
    form_token = page.select_one("#invite-form input[name=csrf_token]")["value"]
    accepted = squatter.post(f"/invite/{bait_token}", data={
        "csrf_token": form_token, "intent": "create", "email": VICTIM,
        "password": STOLEN_PASSWORD, "password_confirm": STOLEN_PASSWORD})
    assert accepted.status_code == 302
    squatter_id = db.execute("SELECT id FROM users WHERE email = %s", (VICTIM,)).fetchone()["id"]

    # 3. The tenant's admin adds the same email: an invitation, no membership.
    tenant_admin = login("admin")
    answer = add_member(tenant_admin, space["slug"], VICTIM, "admin")
    assert answer.status_code == 200
    tenant_link = html(answer).select_one("#invitation-url").text
    member = db.execute("SELECT role FROM memberships WHERE space_id = %s AND user_id = %s",
                        (space["id"], squatter_id)).fetchone()

    # The attacker, signed in with the pre-registered account, reads nothing of the tenant's.
    attacker_session = app.test_client()
    assert sign_in(attacker_session, VICTIM, STOLEN_PASSWORD).status_code == 302
    probes = [f"/spaces/{space['slug']}/", f"/spaces/{space['slug']}/received/",
              f"/spaces/{space['slug']}/destinations/", f"/spaces/{space['slug']}/members/",
              f"/spaces/{space['slug']}/keys/"]
    statuses = {path: attacker_session.get(path).status_code for path in probes}
    listed = html(attacker_session.get("/spaces/")).get_text()
    leaks = [p for p, status in statuses.items() if status != 404]
    ok = member is None and not leaks and space["name"] not in listed
    fault_report.add("invitation: pre-registered email, tenant adds it later",
                     f"membership={'none' if member is None else member['role']}; tenant pages "
                     f"{sorted(set(statuses.values()))}; {len(leaks)} leaks", ok)
    assert member is None
    assert not leaks, statuses
    assert space["name"] not in listed

    # Only the holder of the tenant's link can accept it; the real colleague joins with their account.
    colleague = make_user(app, "colleague.real@tenant.example", [])
    real = app.test_client()
    sign_in(real, colleague["email"])
    tenant_token = tenant_link.rsplit("/", 1)[1]
    join_token = html(real.get(f"/invite/{tenant_token}")).select_one("#join-form input[name=csrf_token]")["value"]
    assert real.post(f"/invite/{tenant_token}", data={"csrf_token": join_token, "intent": "join"}).status_code == 302
    assert db.execute("SELECT role FROM memberships WHERE space_id = %s AND user_id = %s",
                      (space["id"], colleague["id"])).fetchone()["role"] == "admin"
    assert db.execute("SELECT count(*) AS n FROM memberships WHERE space_id = %s AND user_id = %s",
                      (space["id"], squatter_id)).fetchone()["n"] == 0


def test_the_members_screen_does_not_reveal_whether_an_account_exists(app, login, space, fault_report):
    make_user(app, VICTIM, [])
    admin = login("admin")

    def answer(email: str):
        response = add_member(admin, space["slug"], email, "viewer")
        page = html(response)
        return response.status_code, page.select_one("#notice").text.replace(email, "EMAIL")

    same = answer(VICTIM) == answer("nobody@tenant.example")
    fault_report.add("members screen: account exists vs not", "same answer" if same else "answers differ", same)
    assert same


def make_space_for(app) -> dict:
    """A space for the attacker's first login (any signed-in user works; this one is theirs)."""
    from tests.conftest import make_space
    return make_space(app, "Attacker Home")
