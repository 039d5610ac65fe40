"""The tenancy matrix: every route of the route map, asked with another space's session and credential.

Alice's space holds marked data (a link, a custom domain, a webhook destination with its URL, a
deposit with its delivery, a received-log row, a pending invitation). Mallory is admin of her own
space and holds its bearer secret and ingest token. For every rule in the app's url_map:

- space pages (/spaces/<space>/…), every method: with Alice's slug → 404; with Mallory's own slug
  but Alice's object ids → never Alice's data, and no write to it;
- ingress (the `ingress` blueprint): Mallory's credentials naming Alice's uid write only to
  Mallory's space and answer nothing about Alice's;
- every other route is listed as public or per-user here, and its answer to Mallory carries none
  of Alice's markers. A route the matrix does not know fails the test until it is classified.

A leak is any answer that is not a refusal where one is due, any of Alice's markers in a body,
or any change to Alice's rows.
"""
import re

import pytest

from app.delivery import configure
from tests.conftest import bearer
from tests.landing.landing_helpers import make_domain, make_link
from tests.setup.conftest import csrf_of, html, make_user, sign_in

VICTIM_NAME = "Alice Funnel"
MARKERS = ("victim-link", "go.alice-victim.example", "alice-hook.example", "alice-victim-uid",
           "alice-deposit-eid", "alice-colleague@victim.example")
# Routes outside /spaces/<space>/ and the ingress blueprint: public, or scoped to the signed-in user.
OTHER_ROUTES = {
    "static", "health.show_health", "health.show_readiness", "docs.show_index", "docs.show_page",
    "web.show_home", "web.list_spaces", "web.show_login", "web.login", "web.logout",
    "setup_spaces.show_new_space", "setup_spaces.create_space",
    "invitations.show_invitation", "invitations.accept_invitation", "landing.show_landing",
    # Authorised by a per-space secret in its path (the bot's webhook id): asked below with a made-up one.
    "telegram_webhook.receive_update",
}
# Other credential APIs: asked with Mallory's bearer secret; the answer must carry none of Alice's data.
CREDENTIAL_APIS = {"cost_api.create_costs", "cost_api.list_costs", "report_api.get_report", "report_api.get_cohorts"}
# Streams answer forever once allowed: only the refusal (another space's slug) is asked.
STREAMS = ("/stream", "/sse", "/ws")
# The websocket route answers only an upgrade request (anything else is a 400 for every space).
UPGRADE = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
           "Sec-WebSocket-Version": "13"}
TABLES = ("links", "domains", "destinations", "events", "deliveries", "memberships", "invitations", "api_keys",
          "clicks", "journeys")


def seed_victim(app, db, login, space) -> dict:
    """Alice's marked data; returns the ids the route samples use."""
    alice = login("admin")
    make_link(app, space, "victim-link")
    make_domain(app, space, "go.alice-victim.example")
    with app.app_context():
        destination, _ = configure.create_destination(space["id"], "webhook", {"url": "https://alice-hook.example/h"},
                                                      name="Alice hook", event_map={"deposit": "deposit"})
    click = alice.post("/clicks", json={"fbclid": "x"}, headers=bearer(space)).json
    db.execute("UPDATE clicks SET uid = 'alice-victim-uid' WHERE uid = %s", (click["uid"],))
    assert alice.post("/events", json={"uid": "alice-victim-uid", "event": "deposit", "value": "9",
                                       "eid": "alice-deposit-eid"}, headers=bearer(space)).status_code == 200
    alice.post(f"/spaces/{space['slug']}/members/", data={"csrf_token": csrf_of(alice, space["slug"]),
                                                         "email": "alice-colleague@victim.example", "role": "admin"})
    ids = {
        "slug": "victim-link", "hostname": "go.alice-victim.example", "destination_id": str(destination.id),
        "uid": "alice-victim-uid", "name": "funnel", "event": "deposit", "kind": "bearer",
        "user_id": str(alice.user["id"]),
        "delivery_id": str(db.execute("SELECT id FROM deliveries WHERE space_id = %s", (space["id"],)).fetchone()["id"]),
        "invitation_id": str(db.execute("SELECT id FROM invitations WHERE space_id = %s",
                                        (space["id"],)).fetchone()["id"]),
    }
    ids["id"] = ids["destination_id"]
    ids["chat_id"] = "-1001234567890"  # Alice connects no channel here: the Telegram screens are asked empty
    return ids


def snapshot(db, space_id: int) -> dict:
    """Everything of Alice's that a leak could change, table by table."""
    return {t: db.execute(f"SELECT * FROM {t} WHERE space_id = %s ORDER BY 1, 2", (space_id,)).fetchall()
            for t in TABLES}


def fill(rule: str, space_slug: str, ids: dict) -> str:
    def value(match: re.Match) -> str:
        name = match.group(1)
        if name == "space":
            return space_slug
        assert name in ids, f"the tenancy matrix needs a value for <{name}> in {rule}"
        return ids[name]
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", value, rule)


def leaked(response) -> list[str]:
    body = response.get_data(as_text=True)
    return [m for m in (*MARKERS, VICTIM_NAME) if m in body]


def test_no_route_leaks_another_spaces_data(app, db, login, space, other_space, fault_report):
    ids = seed_victim(app, db, login, space)
    before = snapshot(db, space["id"])
    mallory = login("admin", in_space=other_space)
    token = csrf_of(mallory, other_space["slug"])
    # What Mallory submits is her own (none of Alice's markers), so whatever it creates in her space
    # cannot be mistaken for a leak.
    form = {"csrf_token": token, "email": "m@example.com", "role": "admin", "url": "https://m.example/h",
            "name": "x", "slug": "mallory-link", "target": "xt_bot", "kind": "bot", "hostname": "go.mallory.example",
            "event": "deposit", "password": "x" * 12}
    problems, asked = [], 0
    # Pages first, ingress last: Mallory's own events naming Alice's uid then show only in her space.
    rules = sorted(app.url_map.iter_rules(), key=lambda r: r.endpoint.startswith("ingress."))
    for rule in rules:
        methods = sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
        if rule.rule.startswith("/spaces/<space>"):
            for method in methods:
                # (a) Alice's space: a 404, whatever the method.
                path = fill(rule.rule, space["slug"], ids)
                headers = {"X-CSRF-Token": token, **(UPGRADE if rule.rule.endswith("/ws") else {})}
                # Unbuffered: a stream opened by mistake must fail this test, not hang it.
                response = mallory.open(path, method=method, data=form, headers=headers,
                                        buffered=not rule.rule.endswith(STREAMS))
                asked += 1
                if rule.rule.endswith(STREAMS) and response.status_code != 404:
                    response.close()
                    problems.append((method, path, response.status_code, ["stream opened"]))
                    continue
                if response.status_code != 404 or leaked(response):
                    problems.append((method, path, response.status_code, leaked(response)))
                # (b) Mallory's own space, Alice's object ids: never Alice's data.
                if rule.rule.endswith(STREAMS):
                    continue
                path = fill(rule.rule, other_space["slug"], ids)
                response = mallory.open(path, method=method, data=form, headers={"X-CSRF-Token": token})
                asked += 1
                if leaked(response):
                    problems.append((method, path, response.status_code, leaked(response)))
        elif rule.endpoint.startswith("ingress."):
            # Mallory's credential names Alice's uid and link: her answer must know nothing of them.
            asked += 1
            outcome = ask_ingress(mallory, rule, other_space)
            if outcome:
                problems.append(outcome)
        elif rule.endpoint in CREDENTIAL_APIS:
            asked += 1
            method = "POST" if "POST" in rule.methods else "GET"
            response = mallory.open(rule.rule, method=method, json={} if method == "POST" else None,
                                    headers=bearer(other_space))
            if leaked(response):
                problems.append((method, rule.rule, response.status_code, leaked(response)))
        else:
            assert rule.endpoint in OTHER_ROUTES, f"classify {rule.endpoint} ({rule.rule}) in the tenancy matrix"
            if rule.endpoint == "telegram_webhook.receive_update":
                asked += 1
                response = mallory.post(fill(rule.rule, other_space["slug"], {"hook_id": "made-up-hook"}), json={})
                if response.status_code < 400 or leaked(response):
                    problems.append(("POST", rule.rule, response.status_code, leaked(response)))
            if rule.endpoint in ("web.show_home", "web.list_spaces", "setup_spaces.show_new_space"):
                asked += 1
                response = mallory.get(fill(rule.rule, other_space["slug"], ids), follow_redirects=True)
                if leaked(response):
                    problems.append(("GET", rule.rule, response.status_code, leaked(response)))
    changed = [t for t, rows in snapshot(db, space["id"]).items() if rows != before[t]]
    ok = not problems and not changed
    fault_report.add("tenancy matrix: every route x another space's session and credential",
                     f"{asked} requests; {len(problems)} leaks; {len(changed)} of Alice's tables changed", ok)
    assert not problems, problems
    assert not changed, changed


def ask_ingress(mallory, rule, own_space) -> tuple | None:
    """Mallory's own credentials, naming Alice's uid: the answer must say nothing of Alice's journey."""
    path = rule.rule
    if "POST" in rule.methods:
        body = {"/events": {"uid": "alice-victim-uid", "event": "deposit", "value": "1", "eid": "mallory-1"},
                "/bind": {"uid": "alice-victim-uid", "tg_id": 77},
                "/clicks": {"link_slug": "victim-link"}}[path]
        response = mallory.post(path, json=body, headers=bearer(own_space))
    else:
        query = {"/e": "event=deposit&uid=alice-victim-uid&value=1&eid=mallory-2",
                 "/bind": "uid=alice-victim-uid&tg=78"}[path]
        response = mallory.get(f"{path}?token={own_space['ingest']}&{query}")
    if leaked(response) or (response.is_json and response.json.get("matched")):
        return (rule.methods, path, response.status_code, leaked(response), response.get_json())
    return None


def test_a_session_is_not_a_credential_and_a_credential_is_not_a_session(app, login, space, other_space,
                                                                        fault_report):
    mallory = login("admin", in_space=other_space)
    refused_ingress = mallory.post("/events", json={"event": "contact"}).status_code
    anonymous = app.test_client()
    refused_page = anonymous.get(f"/spaces/{other_space['slug']}/", headers=bearer(other_space)).status_code
    ok = refused_ingress == 401 and refused_page == 302
    fault_report.add("session vs credential", f"session on ingress {refused_ingress}; bearer on a page {refused_page}",
                     ok)
    assert refused_ingress == 401
    assert refused_page == 302
