"""The API keys screen: admin only, secrets revealed exactly once, grace after rotation, snippets that run."""
import asyncio
import json
import logging
import os
import subprocess
from datetime import timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from app.lib import tokens
from tests.setup.conftest import csrf_of, form_token, html, make_user


def keys_path(space) -> str:
    return f"/spaces/{space['slug']}/keys/"


def rotate(client, space, kind="both", **extra):
    token = form_token(client, keys_path(space))
    return client.post(f"{keys_path(space)}rotate", data={"kind": kind, "csrf_token": token, **extra},
                       follow_redirects=True)


def revealed(page) -> dict:
    return {kind: page.select_one(f"#secret-{kind}").get_text(strip=True)
            for kind in ("bearer", "ingest") if page.select_one(f"#secret-{kind}")}


def snippet(page, id_: str) -> str:
    return page.select_one(f"#{id_}").get_text()


# ---- access ------------------------------------------------------------------------------------


def test_it_shows_each_secret_by_hint_with_what_it_authorises(login, space, clock):
    response = login("admin").get(keys_path(space))
    assert response.status_code == 200
    page = html(response)
    bearer_row, ingest_row = page.select_one("#key-bearer"), page.select_one("#key-ingest")
    assert bearer_row.select_one(".hint").text == tokens.hint(space["bearer"])
    assert ingest_row.select_one(".hint").text == tokens.hint(space["ingest"])
    assert "POST /events" in bearer_row.text and "Authorization: Bearer" in bearer_row.text
    assert "GET /e" in ingest_row.text and "GET /bind" in ingest_row.text
    assert bearer_row.select_one(".since").text.strip() == clock.now.strftime("%Y-%m-%d %H:%M UTC")
    assert space["bearer"] not in response.get_data(as_text=True)
    assert space["ingest"] not in response.get_data(as_text=True)
    assert page.select_one("#revealed") is None
    assert {b["id"] for b in page.select("form button[type=submit]")} >= {"rotate-bearer", "rotate-ingest",
                                                                         "rotate-both"}
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_it_is_admin_only(login, space, role):
    client = login(role)
    assert client.get(keys_path(space)).status_code == 403
    token = csrf_of(client, space["slug"])
    response = client.post(f"{keys_path(space)}rotate", data={"kind": "both", "csrf_token": token})
    assert response.status_code == 403
    assert html(client.get(f"/spaces/{space['slug']}/")).select_one("#tab-keys") is None


def test_it_checks_ownership(app, login, space, other_space, db):
    client = login("admin")
    make_user(app, "bob@example.com", [(other_space, "admin")])
    token = form_token(client, keys_path(space))
    assert client.get(keys_path(other_space)).status_code == 404
    response = client.post(f"{keys_path(other_space)}rotate", data={"kind": "both", "csrf_token": token})
    assert response.status_code == 404
    assert db.execute("SELECT count(*) AS n FROM api_keys WHERE space_id = %s",
                      (other_space["id"],)).fetchone()["n"] == 2


def test_it_refuses_a_rotation_without_the_csrf_token(login, space, db):
    client = login("admin")
    assert client.post(f"{keys_path(space)}rotate", data={"kind": "both"}).status_code == 403
    assert db.execute("SELECT count(*) AS n FROM api_keys").fetchone()["n"] == 2


def test_it_sends_anonymous_visitors_to_login(client, space):
    response = client.get(keys_path(space))
    assert response.status_code == 302 and response.headers["Location"].startswith("/login?next=")
    response = client.post(f"{keys_path(space)}rotate", data={"kind": "both"})
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_a_new_space_lands_here_with_a_notice(login, space):
    page = html(login("admin").get(f"{keys_path(space)}?done=space_created"))
    assert page.select_one("#notice").text.startswith("Space created. Rotate the keys to reveal them")
    free_text = html(login("admin").get(f"{keys_path(space)}?done=<b>hacked</b>"))
    assert free_text.select_one("#notice") is None


# ---- rotation ----------------------------------------------------------------------------------


def test_rotating_reveals_the_new_secrets_exactly_once(login, space, db):
    client = login("admin")
    response = rotate(client, space, "both")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    page = html(response)
    secrets = revealed(page)
    assert secrets["bearer"].startswith("xtb_") and secrets["ingest"].startswith("xti_")
    assert secrets["bearer"] != space["bearer"] and secrets["ingest"] != space["ingest"]
    assert "Shown once — copy it now" in page.select_one("#shown-once").text
    assert page.select_one("#revealed button.copy")["data-copy"] == "#secret-bearer"
    assert page.select_one("#key-bearer .hint").text == tokens.hint(secrets["bearer"])
    stored = db.execute("SELECT hint FROM api_keys WHERE secret_hash = %s",
                        (tokens.digest(secrets["bearer"]),)).fetchone()
    assert stored == {"hint": tokens.hint(secrets["bearer"])}

    again = client.get(keys_path(space))
    body = again.get_data(as_text=True)
    assert secrets["bearer"] not in body and secrets["ingest"] not in body
    assert html(again).select_one("#revealed") is None
    assert html(again).select_one("#key-bearer .hint").text == tokens.hint(secrets["bearer"])


def test_rotating_one_secret_leaves_the_other_alone(login, space):
    page = html(rotate(login("admin"), space, "ingest"))
    secrets = revealed(page)
    assert set(secrets) == {"ingest"}
    assert page.select_one("#key-bearer .hint").text == tokens.hint(space["bearer"])
    assert page.select_one("#key-bearer .grace") is None
    assert "$XT_BEARER" in snippet(page, "curl-events")
    assert secrets["ingest"] in snippet(page, "curl-e")


def test_the_previous_secret_works_during_its_grace_and_not_after(app, login, space, clock):
    app.config["AUTH_CACHE_SECONDS"] = 0
    admin = login("admin")
    page = html(rotate(admin, space, "both"))
    new = revealed(page)
    grace = page.select_one("#key-bearer .grace").text
    until = clock.now + timedelta(hours=24)
    assert f"previous secret {tokens.hint(space['bearer'])} valid until {until:%Y-%m-%d %H:%M} UTC" in \
        " ".join(grace.split())
    ingress = app.test_client()

    def post(secret):
        return ingress.post("/events", json={"event": "contact"}, headers={"Authorization": f"Bearer {secret}"})

    assert post(space["bearer"]).status_code == 200 and post(new["bearer"]).status_code == 200
    assert ingress.get(f"/e?token={space['ingest']}&event=contact&eid=a").status_code == 200
    clock.advance(hours=23, minutes=59)
    assert post(space["bearer"]).status_code == 200
    assert html(admin.get(keys_path(space))).select_one("#key-ingest .grace") is not None
    clock.advance(minutes=1)
    assert post(space["bearer"]).status_code == 401
    assert ingress.get(f"/e?token={space['ingest']}&event=contact&eid=b").status_code == 401
    assert post(new["bearer"]).status_code == 200
    assert ingress.get(f"/e?token={new['ingest']}&event=contact&eid=c").status_code == 200
    later = html(admin.get(keys_path(space)))
    assert later.select(".grace") == []


def test_the_grace_time_is_shown_in_the_space_s_time_zone(login, space, db, clock):
    db.execute("UPDATE spaces SET time_zone = 'Asia/Tokyo' WHERE id = %s", (space["id"],))
    page = html(rotate(login("admin"), space, "bearer"))
    until = (clock.now + timedelta(hours=24)).astimezone(ZoneInfo("Asia/Tokyo"))
    assert f"valid until {until:%Y-%m-%d %H:%M} JST" in page.select_one("#key-bearer .grace").text


def test_a_resubmitted_rotation_form_rotates_nothing(login, space, db):
    client = login("admin")
    form = html(client.get(keys_path(space)))
    fields = {i["name"]: i["value"] for i in form.select("#rotate-both")[0].find_parent("form").select("input")}
    first = client.post(f"{keys_path(space)}rotate", data=fields)
    assert first.status_code == 303
    shown = client.get(first.location)
    assert shown.status_code == 200 and revealed(html(shown))
    # The same form again (a reload of the POST, a double click) redirects to the same reveal, which
    # was shown once already: nothing is rotated and nothing is shown.
    second = client.post(f"{keys_path(space)}rotate", data=fields)
    assert second.status_code == 303 and second.location == first.location
    again = html(client.get(second.location))
    assert again.select_one("#revealed") is None and "shown once" in again.select_one("#notice").text
    # Without its form token, the stale hints alone still stop a second rotation.
    fields.pop("form_token")
    third = client.post(f"{keys_path(space)}rotate", data=fields)
    assert third.status_code == 409
    page = html(third)
    assert "nothing was rotated" in page.select_one("#conflict").text and page.select_one("#revealed") is None
    assert db.execute("SELECT count(*) AS n FROM api_keys").fetchone()["n"] == 4


def test_a_space_without_secrets_gets_them_from_its_first_rotation(login, space, db):
    db.execute("DELETE FROM api_keys WHERE space_id = %s", (space["id"],))
    client = login("admin")
    page = html(client.get(keys_path(space)))
    assert "rotate to create one" in page.select_one("#key-bearer .hint").text
    fields = {i["name"]: i["value"] for i in page.select_one("#rotate-both").find_parent("form").select("input")}
    secrets = revealed(html(client.post(f"{keys_path(space)}rotate", data=fields, follow_redirects=True)))
    assert secrets["bearer"].startswith("xtb_") and secrets["ingest"].startswith("xti_")
    assert client.application.test_client().post(
        "/events", json={"event": "contact"}, headers={"Authorization": f"Bearer {secrets['bearer']}"}).status_code == 200


def test_an_unknown_kind_is_refused_with_a_reason(login, space, db):
    response = rotate(login("admin"), space, "everything")
    assert response.status_code == 400
    assert "bearer, ingest or both" in html(response).select_one("#form-error").text
    assert db.execute("SELECT count(*) AS n FROM api_keys").fetchone()["n"] == 2


def test_secrets_never_reach_the_logs(login, space, caplog):
    caplog.set_level(logging.DEBUG)
    secrets = revealed(html(rotate(login("admin"), space, "both")))
    assert secrets and all(secret not in caplog.text for secret in secrets.values())


# ---- the snippets, run for real ------------------------------------------------------------------


def run(command: str, env: dict | None = None) -> dict:
    """Run a snippet with bash exactly as pasted; its output is the endpoint's JSON answer."""
    result = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=30,
                            env={**os.environ, **(env or {})})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_curl_snippets_with_revealed_secrets_work_as_pasted(app, login, space, live_server, db):
    app.config["PUBLIC_URL"] = live_server.url
    page = html(rotate(login("admin"), space, "both"))
    secrets = revealed(page)
    assert secrets["bearer"] in snippet(page, "curl-events") and secrets["ingest"] in snippet(page, "curl-e")
    assert page.select_one("#placeholder-note") is None
    assert run(snippet(page, "curl-events"))["status"] == "queued"
    assert run(snippet(page, "curl-events"))["status"] == "duplicate"
    assert run(snippet(page, "curl-e"))["status"] == "queued"
    assert run(snippet(page, "curl-bind")) == {"ok": True, "matched": False}
    clicked = run(snippet(page, "curl-clicks"))
    assert clicked["ok"] is True and tokens.UID_RE.fullmatch(clicked["uid"])
    assert run(snippet(page, "curl-bind-get")) == {"ok": True, "matched": False}
    rows = db.execute("SELECT event, value::text, currency, eid, uid FROM events WHERE space_id = %s ORDER BY id",
                      (space["id"],)).fetchall()
    assert [(r["event"], r["value"], r["currency"], r["eid"]) for r in rows] == [
        ("deposit", "25.000000", "USD", "dep-7781"), ("deposit", "25.000000", "USD", "dep-7782")]


def test_the_placeholder_snippets_work_once_the_variables_are_set(app, login, space, live_server):
    app.config["PUBLIC_URL"] = live_server.url
    page = html(login("admin").get(keys_path(space)))
    assert "rotate to fill in real secrets" in page.select_one("#placeholder-note").text.lower()
    events, get_e = snippet(page, "curl-events"), snippet(page, "curl-e")
    assert "$XT_BEARER" in events and "$XT_INGEST_TOKEN" in get_e
    assert run(events, {"XT_BEARER": space["bearer"]})["status"] == "queued"
    assert run(get_e, {"XT_INGEST_TOKEN": space["ingest"]})["status"] == "queued"
    unset = subprocess.run(["bash", "-c", events], capture_output=True, text=True, timeout=30,
                           env={k: v for k, v in os.environ.items() if k != "XT_BEARER"})
    assert json.loads(unset.stdout)["status"] == "unauthorized"


def test_the_python_client_runs_with_the_revealed_bearer(app, login, space, live_server, db):
    app.config["PUBLIC_URL"] = live_server.url
    page = html(rotate(login("admin"), space, "bearer"))
    source = snippet(page, "python-client")
    assert f'TRACKER = "{live_server.url}"' in source and revealed(page)["bearer"] in source
    namespace: dict = {}
    exec(compile(source, "keys-page-client", "exec"), namespace)
    uid = httpx.post(f"{live_server.url}/clicks", json={},
                     headers={"Authorization": f"Bearer {revealed(page)['bearer']}"}).json()["uid"]

    async def funnel():
        return [await namespace["bind"](uid, 555123),
                await namespace["send_event"]("deposit", uid=uid, value="25.00", currency="USD", eid="dep-py")]

    bound, deposit = asyncio.run(funnel())
    assert bound == {"ok": True, "matched": True} and deposit["status"] == "queued"
    journey = db.execute("SELECT tg_id, deposit_count FROM journeys WHERE uid = %s", (uid,)).fetchone()
    assert journey == {"tg_id": 555123, "deposit_count": 1}


def test_the_python_client_without_a_revealed_secret_reads_the_environment(login, space):
    source = snippet(html(login("admin").get(keys_path(space))), "python-client")
    assert 'BEARER = os.environ["XT_BEARER"]' in source
    compile(source, "keys-page-client", "exec")


def test_the_postback_urls_fire_once_the_partner_fills_the_macros(app, login, space, live_server, db):
    app.config["PUBLIC_URL"] = live_server.url
    page = html(rotate(login("admin"), space, "ingest"))
    url = snippet(page, "postback-pocket-option-first-deposit")
    assert url.startswith(f"{live_server.url}/e?token={revealed(page)['ingest']}&event=deposit")
    filled = url.replace("{click_id}", "po-click-1").replace("{sumdep}", "40").replace("{trader_id}", "777")
    assert httpx.get(filled).json()["status"] == "queued"
    assert httpx.get(filled).json()["status"] == "duplicate"
    row = db.execute("SELECT uid, value::text, eid FROM events WHERE space_id = %s", (space["id"],)).fetchone()
    assert row == {"uid": "po-click-1", "value": "40.000000", "eid": "ftd-777"}
