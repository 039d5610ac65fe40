"""The custom domains screen: status, the CNAME to set, add, verify now (faked DNS) and remove."""
import json

import pytest
from playwright.sync_api import expect

from app import db as app_db, services
from app.link import store
from tests.conftest import screenshot
from tests.landing.landing_helpers import clicks, make_domain, make_link, open_landing
from tests.link.test_domain_cli import TARGET, FakeResolver
from tests.setup.conftest import browser_sign_in, csrf_of, html, make_user


@pytest.fixture
def dns_answers(app):
    resolver = FakeResolver()
    app.config["CNAME_TARGET"] = TARGET
    services.of(app).resolver = resolver
    return resolver


def domains_path(space: dict, rest: str = "") -> str:
    return f"/spaces/{space['slug']}/domains/{rest}"


def post(client, space: dict, rest: str = "", data: dict | None = None, token_space: dict | None = None):
    """POST as the page's forms do, with the session's CSRF token."""
    token = csrf_of(client, (token_space or space)["slug"])
    return client.post(domains_path(space, rest), data={**(data or {}), "csrf_token": token})


def add_unchecked(app, space: dict, hostname: str) -> None:
    """Add a hostname to the space as the screen does, never checked."""
    with app.app_context():
        with app_db.transaction() as conn:
            store.create_domain(conn, space["id"], hostname, app.config["CLOCK"]())


def domain_row(page, hostname: str):
    return page.select_one(f'#domains tr[data-hostname="{hostname}"]')


def test_it_shows_each_hostnames_state_and_the_cname_to_set(app, login, space, dns_answers, clock):
    make_domain(app, space, "go.alice.example")
    make_domain(app, space, "bad.alice.example", verified=False)
    add_unchecked(app, space, "new.alice.example")
    response = login("viewer").get(domains_path(space))
    assert response.status_code == 200
    page = html(response)
    good, bad, new = (domain_row(page, h) for h in ("go.alice.example", "bad.alice.example", "new.alice.example"))
    assert good.select_one(".status .badge").text == "verified"
    assert bad.select_one(".status .badge").text == "failed"
    assert bad.select_one(".check-note").text == "set by the test"
    assert clock().strftime("%Y-%m-%d %H:%M") in bad.select_one(".check").text
    assert new.select_one(".status .badge").text == "pending" and "not checked yet" in new.text
    assert [c.text for c in new.select(".cname .copyable code")] == ["new.alice.example", TARGET]
    assert page.select_one("#add-domain") is None and page.select_one("form.verify") is None


def test_an_admin_adds_verifies_and_the_domain_serves_the_spaces_landings(app, client, login, space, db, dns_answers):
    make_link(app, space, "promo")
    admin = login("admin")
    response = post(admin, space, data={"hostname": "Go.Alice.Example."})
    assert response.status_code == 302 and response.headers["Location"] == domains_path(space) + "?done=added"
    page = html(admin.get(response.headers["Location"]))
    assert "Hostname added" in page.select_one("#notice").text
    assert domain_row(page, "go.alice.example").select_one(".badge").text == "pending"

    response = post(admin, space, "go.alice.example/verify")
    assert response.headers["Location"].endswith("?done=not_verified")
    row = domain_row(html(admin.get(domains_path(space))), "go.alice.example")
    assert row.select_one(".badge").text == "failed" and "has no DNS record yet" in row.select_one(".check-note").text

    dns_answers.cnames["go.alice.example"] = TARGET
    response = post(admin, space, "go.alice.example/verify")
    assert response.headers["Location"].endswith("?done=verified")
    assert domain_row(html(admin.get(domains_path(space))), "go.alice.example").select_one(".badge").text == "verified"
    assert open_landing(client, "/promo", Host="go.alice.example").status_code == 200
    assert len(clicks(db)) == 1
    links = html(admin.get(f"/spaces/{space['slug']}/links/"))
    assert [c.text for c in links.select("tr#link-promo .landing-urls code")][1] == "https://go.alice.example/promo"


@pytest.mark.parametrize(("hostname", "reason"), [
    ("https://go.alice.example/x", "not a hostname"),
    ("localhost", "not a hostname"),
    ("go.alice.example:8080", "not a hostname"),
    (TARGET, "tracker's own host"),
])
def test_add_refuses_a_bad_hostname_and_keeps_what_was_typed(login, space, db, dns_answers, hostname, reason):
    response = post(login("admin"), space, data={"hostname": hostname})
    assert response.status_code == 400
    page = html(response)
    assert reason in page.select_one("#e-hostname").text
    assert page.select_one("#f-hostname")["value"] == hostname
    assert db.execute("SELECT count(*) AS n FROM domains").fetchone()["n"] == 0


def test_add_refuses_a_hostname_another_space_verified_without_naming_it(app, login, space, other_space, dns_answers):
    make_domain(app, other_space, "go.shared.example")
    response = post(login("admin"), space, data={"hostname": "go.shared.example"})
    assert response.status_code == 400
    error = html(response).select_one("#e-hostname").text
    assert "another space" in error and other_space["name"] not in error and other_space["slug"] not in error
    cli = app.test_cli_runner().invoke(args=["domain", "add", space["slug"], "go.shared.example", "--json"])
    assert cli.exit_code == 1 and "another space" in json.loads(cli.output)["error"]


def test_add_refuses_a_hostname_the_space_already_has(app, login, space, dns_answers):
    make_domain(app, space, "go.alice.example", verified=False)
    response = post(login("admin"), space, data={"hostname": "go.alice.example"})
    assert response.status_code == 400
    assert "already a domain of this space" in html(response).select_one("#e-hostname").text


def test_verify_says_when_another_space_verified_the_hostname_first(app, login, space, other_space, dns_answers):
    dns_answers.cnames["go.shared.example"] = TARGET
    make_domain(app, other_space, "go.shared.example")
    add_unchecked(app, space, "go.shared.example")
    admin = login("admin")
    response = post(admin, space, "go.shared.example/verify")
    assert response.headers["Location"].endswith("?done=taken")
    page = html(admin.get(response.headers["Location"]))
    assert "another space verified this hostname first" in page.select_one("#notice").text
    assert domain_row(page, "go.shared.example").select_one(".badge").text == "pending"


def test_remove_drops_the_hostname(app, login, space, db, dns_answers):
    make_domain(app, space, "go.alice.example")
    admin = login("admin")
    response = post(admin, space, "go.alice.example/remove")
    assert response.headers["Location"].endswith("?done=removed")
    page = html(admin.get(response.headers["Location"]))
    assert page.select_one("#domains") is None and page.select_one("#no-domains") is not None
    assert post(admin, space, "go.alice.example/remove").status_code == 404


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_only_admins_add_verify_or_remove(app, login, space, db, dns_answers, role):
    make_domain(app, space, "go.alice.example", verified=False)
    dns_answers.cnames["go.alice.example"] = TARGET
    client = login(role)
    assert post(client, space, data={"hostname": "new.alice.example"}).status_code == 403
    assert post(client, space, "go.alice.example/verify").status_code == 403
    assert post(client, space, "go.alice.example/remove").status_code == 403
    assert db.execute("SELECT hostname, verified_at FROM domains").fetchall() == [
        {"hostname": "go.alice.example", "verified_at": None}]


def test_it_checks_ownership(app, login, space, other_space, db, dns_answers):
    make_domain(app, space, "go.alice.example", verified=False)
    dns_answers.cnames["go.alice.example"] = TARGET
    outsider = login("admin", in_space=other_space)
    assert outsider.get(domains_path(space)).status_code == 404
    for rest, data in (("", {"hostname": "x.alice.example"}), ("go.alice.example/verify", {}),
                       ("go.alice.example/remove", {})):
        assert post(outsider, space, rest, data, token_space=other_space).status_code == 404, rest
    assert db.execute("SELECT space_id, hostname, verified_at FROM domains").fetchall() == [
        {"space_id": space["id"], "hostname": "go.alice.example", "verified_at": None}]


def test_another_spaces_domain_cannot_be_verified_or_removed_through_this_spaces_urls(
        app, login, space, other_space, db, dns_answers):
    make_domain(app, other_space, "go.bob.example", verified=False)
    dns_answers.cnames["go.bob.example"] = TARGET
    admin = login("admin")
    assert post(admin, space, "go.bob.example/verify").status_code == 404
    assert post(admin, space, "go.bob.example/remove").status_code == 404
    assert domain_row(html(admin.get(domains_path(space))), "go.bob.example") is None
    assert db.execute("SELECT space_id, verified_at, check_note FROM domains").fetchall() == [
        {"space_id": other_space["id"], "verified_at": None, "check_note": "set by the test"}]


def test_it_refuses_posts_without_the_csrf_token(app, login, space, db, dns_answers):
    make_domain(app, space, "go.alice.example")
    admin = login("admin")
    assert admin.post(domains_path(space), data={"hostname": "new.alice.example"}).status_code == 403
    assert admin.post(domains_path(space, "go.alice.example/remove")).status_code == 403
    assert admin.post(domains_path(space, "go.alice.example/verify"),
                      headers={"X-CSRF-Token": "forged"}).status_code == 403
    assert db.execute("SELECT count(*) AS n FROM domains").fetchone()["n"] == 1


def test_it_sends_anonymous_visitors_to_login(client, space):
    for response in (client.get(domains_path(space)), client.post(domains_path(space), data={"hostname": "a.b.c"}),
                     client.post(domains_path(space, "a.b.c/verify"))):
        assert response.status_code == 302 and response.headers["Location"].startswith("/login?next=")


def test_an_admin_adds_a_hostname_and_copies_its_cname_target_in_a_browser(browser, app, space, live_server, db):
    make_user(app, "admin@example.com", [(space, "admin")])
    make_domain(app, space, "go.alice.example")
    make_domain(app, space, "bad.alice.example", verified=False)
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    tab = context.new_page()
    browser_sign_in(tab, live_server.url, "admin@example.com", space=space)
    tab.click("#tab-domains")
    tab.fill("#f-hostname", "https://not a hostname")
    tab.click("#add-domain-button")
    expect(tab.locator("#e-hostname")).to_contain_text("not a hostname")
    tab.fill("#f-hostname", "new.alice.example")
    tab.click("#add-domain-button")
    expect(tab.locator("#notice")).to_contain_text("Hostname added")
    row = tab.locator('tr[data-hostname="new.alice.example"]')
    expect(row.locator(".badge")).to_have_text("pending")
    copy = row.locator(".cname button.copy").last
    copy.click()
    expect(copy).to_have_text("Copied")
    screenshot(tab, "setup-domains")
    context.close()
    assert [r["hostname"] for r in db.execute("SELECT hostname FROM domains ORDER BY hostname")] == [
        "bad.alice.example", "go.alice.example", "new.alice.example"]
