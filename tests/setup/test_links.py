"""The links screen: list with landing URLs and deep links, create, edit, archive and restore."""
import json
import uuid

import pytest
from playwright.sync_api import expect

from app.link.urls import SAMPLE_UID
from tests.conftest import ARTIFACTS, screenshot
from tests.landing.landing_helpers import clicks, make_domain, make_link, open_landing
from tests.setup.conftest import browser_sign_in, csrf_of, html, make_user

FULL_FORM = {"slug": "spring", "name": "Spring sale", "kind": "bot", "target": "@xt_funnel_bot", "mode": "page",
             "emit_contact": "on", "utm_source": "facebook", "utm_medium": "", "utm_campaign": "spring",
             "utm_content": "", "utm_term": "", "campaign_name": ""}


def links_path(space: dict, rest: str = "") -> str:
    return f"/spaces/{space['slug']}/links/{rest}"


def post(client, space: dict, rest: str, data: dict | None = None, token_space: dict | None = None):
    """POST as the page's form does, with the session's CSRF token."""
    token = csrf_of(client, (token_space or space)["slug"])
    return client.post(links_path(space, rest), data={**(data or {}), "csrf_token": token})


def row(page, slug: str):
    return page.select_one(f"tr#link-{slug}")


def test_it_lists_links_with_their_landing_urls_deep_links_and_settings(app, login, space):
    make_link(app, space, "promo", campaign_defaults={"utm_source": "facebook"})
    make_link(app, space, "news", kind="channel", target="@xt_news_channel", mode="redirect", emit_contact=False)
    make_link(app, space, "shop", kind="web", target="https://shop.example/start/{uid}")
    make_domain(app, space, "go.alice.example")
    make_domain(app, space, "pending.alice.example", verified=False)
    response = login("viewer").get(links_path(space))
    assert response.status_code == 200
    page = html(response)
    public = app.config["PUBLIC_URL"]
    promo = row(page, "promo")
    assert promo.select_one("#landing-promo").text == f"{public}/promo"
    assert [c.text for c in promo.select(".landing-urls .copyable code")] == [
        f"{public}/promo", "https://go.alice.example/promo"]
    assert promo.select_one(".landing-urls button.copy")["data-copy"] == "#landing-promo"
    assert promo.select_one("#deep-promo").text == f"https://t.me/xt_funnel_bot?start=fb_{SAMPLE_UID}"
    assert promo.select_one(".kind").text == "bot" and promo.select_one(".mode").text == "page"
    assert promo.select_one(".contact").text == "contact on"
    assert [li.text for li in promo.select(".defaults li")] == ["utm_source=facebook"]
    news = row(page, "news")
    assert news.select_one("#deep-news").text == "https://t.me/xt_news_channel"
    assert (news.select_one(".mode").text, news.select_one(".contact").text) == ("302", "contact off")
    assert row(page, "shop").select_one("#deep-shop").text == f"https://shop.example/start/{SAMPLE_UID}"
    assert page.select_one("#new-link") is None and page.select_one("form.archive") is None
    assert page.select_one("#archived-links") is None


def test_it_counts_each_links_clicks_of_the_last_seven_days(app, client, login, space, clock):
    make_link(app, space, "promo")
    make_link(app, space, "quiet")
    open_landing(client, "/promo")
    open_landing(app.test_client(), "/promo")
    page = html(login("viewer").get(links_path(space)))
    assert row(page, "promo").select_one(".clicks").text == "2"
    assert row(page, "quiet").select_one(".clicks").text == "0"
    clock.advance(days=8)
    page = html(login("viewer").get(links_path(space)))
    assert row(page, "promo").select_one(".clicks").text == "0"


def test_a_link_created_on_the_screen_lands_and_records_its_click(app, client, login, space, db):
    admin = login("admin")
    form = html(admin.get(links_path(space, "new")))
    assert form.select_one("#f-slug") is not None and form.select_one("#f-emit_contact").has_attr("checked")
    response = post(admin, space, "new", FULL_FORM)
    assert response.status_code == 302 and response.headers["Location"] == links_path(space) + "?done=created"
    page = html(admin.get(response.headers["Location"]))
    assert "Link created" in page.select_one("#notice").text
    spring = row(page, "spring")
    assert spring.select_one(".link-name").text == "Spring sale"
    assert [li.text for li in spring.select(".defaults li")] == ["utm_campaign=spring", "utm_source=facebook"]
    landing = open_landing(client, "/spring?fbclid=abc")
    assert landing.status_code == 200
    [click] = clicks(db)
    assert (click["space_id"], click["link_slug"], click["utm_source"], click["utm_campaign"], click["fbclid"]) == (
        space["id"], "spring", "facebook", "spring", "abc")
    assert f"start=fb_{click['uid']}" in landing.get_data(as_text=True)
    assert db.execute("SELECT count(*) AS n FROM events WHERE event = 'contact'").fetchone()["n"] == 1


def test_a_new_link_can_skip_the_contact_and_answer_a_302(app, client, login, space, db):
    admin = login("admin")
    data = {**FULL_FORM, "kind": "web", "target": "https://shop.example/land", "mode": "redirect"}
    del data["emit_contact"]
    assert post(admin, space, "new", data).status_code == 302
    landing = open_landing(client, "/spring")
    [click] = clicks(db)
    assert landing.status_code == 302 and landing.headers["Location"] == f"https://shop.example/land?uid={click['uid']}"
    assert db.execute("SELECT count(*) AS n FROM events").fetchone()["n"] == 0


def test_create_re_renders_every_field_error_with_the_values_typed(login, space, db):
    admin = login("admin")
    data = {**FULL_FORM, "slug": "Events", "target": "not a bot", "name": "Spring sale", "utm_source": "x" * 201,
            "utm_term": "kept"}
    response = post(admin, space, "new", data)
    assert response.status_code == 400
    page = html(response)
    assert "taken by the app" in page.select_one("#e-slug").text
    assert "not a bot username" in page.select_one("#e-target").text
    assert "utm_source must be at most 200" in page.select_one("#e-utm_source").text
    assert page.select_one("#e-name") is None
    assert page.select_one("#f-slug")["value"] == "Events"
    assert page.select_one("#f-target")["value"] == "not a bot"
    assert page.select_one("#f-name")["value"] == "Spring sale"
    assert page.select_one("#f-utm_term")["value"] == "kept"
    assert page.select_one("#f-kind option[selected]")["value"] == "bot"
    assert db.execute("SELECT count(*) AS n FROM links").fetchone()["n"] == 0


@pytest.mark.parametrize(("field", "value", "reason"), [
    ("slug", "-start", "slug must be"),
    ("slug", "login", "taken by the app"),
    ("kind", "email", "kind must be one of"),
    ("mode", "frame", "mode must be one of"),
    ("name", "x" * 201, "name must be"),
])
def test_create_refuses_each_bad_field(login, space, field, value, reason):
    response = post(login("admin"), space, "new", {**FULL_FORM, field: value})
    assert response.status_code == 400
    assert reason in html(response).select_one(f"#e-{field}").text


def test_a_slug_in_use_anywhere_is_a_field_error_that_names_no_space(app, login, space, other_space):
    make_link(app, other_space, "spring")
    response = post(login("admin"), space, "new", FULL_FORM)
    assert response.status_code == 400
    error = html(response).select_one("#e-slug").text
    assert "already used by another link" in error and other_space["name"] not in error


def test_an_archived_links_slug_stays_taken(app, login, space):
    admin = login("admin")
    make_link(app, space, "spring")
    assert post(admin, space, "spring/archive").status_code == 302
    response = post(admin, space, "new", FULL_FORM)
    assert response.status_code == 400
    assert "archived link of this space" in html(response).select_one("#e-slug").text


def test_edit_saves_every_field_but_the_slug(app, client, login, space, db):
    make_link(app, space, "promo")
    admin = login("admin")
    form = html(admin.get(links_path(space, "promo/edit")))
    assert form.select_one("#f-slug") is None
    assert "cannot change" in form.select_one("#fixed-slug").text
    assert form.select_one("#f-target")["value"] == "xt_funnel_bot"
    data = {**FULL_FORM, "slug": "renamed", "kind": "web", "target": "https://shop.example/start/{uid}",
            "mode": "redirect", "name": "Shop", "utm_source": "tiktok"}
    del data["emit_contact"]
    response = post(admin, space, "promo/edit", data)
    assert response.status_code == 302 and response.headers["Location"].endswith("?done=saved")
    saved = db.execute("SELECT slug, name, kind, target, mode, emit_contact, campaign_defaults FROM links").fetchone()
    assert saved == {"slug": "promo", "name": "Shop", "kind": "web", "target": "https://shop.example/start/{uid}",
                     "mode": "redirect", "emit_contact": False,
                     "campaign_defaults": {"utm_source": "tiktok", "utm_campaign": "spring"}}
    landing = open_landing(client, "/promo")
    [click] = clicks(db)
    assert landing.headers["Location"] == f"https://shop.example/start/{click['uid']}"
    assert click["utm_source"] == "tiktok"


def test_edit_re_renders_errors_with_the_values_typed(app, login, space, db):
    make_link(app, space, "promo")
    response = post(login("admin"), space, "promo/edit", {**FULL_FORM, "kind": "channel", "target": "https://x.example"})
    assert response.status_code == 400
    page = html(response)
    assert "not a public channel" in page.select_one("#e-target").text
    assert page.select_one("#f-target")["value"] == "https://x.example"
    assert page.select_one("#f-kind option[selected]")["value"] == "channel"
    assert db.execute("SELECT target FROM links").fetchone()["target"] == "xt_funnel_bot"


def test_an_archived_links_landing_is_a_404_without_a_click_until_it_is_restored(app, client, login, space, db):
    make_link(app, space, "promo")
    admin = login("admin")
    assert open_landing(client, "/promo").status_code == 200
    response = post(admin, space, "promo/archive")
    assert response.status_code == 302 and response.headers["Location"].endswith("?done=archived")
    page = html(admin.get(links_path(space)))
    assert page.select_one("#links") is None
    archived = page.select_one("#archived-links tr#link-promo")
    assert "archived" in archived["class"] and archived.select_one("form.restore") is not None
    assert open_landing(app.test_client(), "/promo").status_code == 404
    assert len(clicks(db)) == 1
    assert post(admin, space, "promo/restore").headers["Location"].endswith("?done=restored")
    assert open_landing(app.test_client(), "/promo").status_code == 200
    assert len(clicks(db)) == 2
    assert html(admin.get(links_path(space))).select_one("#links tr#link-promo") is not None


def test_an_archived_link_is_404_on_a_custom_domain_too(app, login, space, db):
    make_link(app, space, "promo")
    make_domain(app, space, "go.alice.example")
    post(login("admin"), space, "promo/archive")
    response = open_landing(app.test_client(), "/promo", Host="go.alice.example")
    assert response.status_code == 404 and clicks(db) == []


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_only_admins_create_edit_archive_or_restore(app, login, space, db, role):
    make_link(app, space, "promo")
    client = login(role)
    assert client.get(links_path(space)).status_code == 200
    assert client.get(links_path(space, "new")).status_code == 403
    assert client.get(links_path(space, "promo/edit")).status_code == 403
    for rest, data in (("new", FULL_FORM), ("promo/edit", FULL_FORM), ("promo/archive", {}), ("promo/restore", {})):
        assert post(client, space, rest, data).status_code == 403, rest
    assert db.execute("SELECT count(*) AS n FROM links WHERE archived_at IS NULL").fetchone()["n"] == 1


def test_it_checks_ownership(app, login, space, other_space, db):
    make_link(app, space, "promo")
    outsider = login("admin", in_space=other_space)
    assert outsider.get(links_path(space)).status_code == 404
    assert outsider.get(links_path(space, "new")).status_code == 404
    assert outsider.get(links_path(space, "promo/edit")).status_code == 404
    for rest, data in (("new", FULL_FORM), ("promo/edit", FULL_FORM), ("promo/archive", {})):
        assert post(outsider, space, rest, data, token_space=other_space).status_code == 404, rest
    assert db.execute("SELECT count(*) AS n FROM links WHERE archived_at IS NULL").fetchone()["n"] == 1


def test_another_spaces_link_cannot_be_reached_through_this_spaces_urls(app, login, space, other_space, db):
    make_link(app, other_space, "bobs")
    admin = login("admin")
    assert admin.get(links_path(space, "bobs/edit")).status_code == 404
    for rest, data in (("bobs/edit", FULL_FORM), ("bobs/archive", {}), ("bobs/restore", {})):
        assert post(admin, space, rest, data).status_code == 404, rest
    assert row(html(admin.get(links_path(space))), "bobs") is None
    assert db.execute("SELECT target, archived_at FROM links").fetchone() == {
        "target": "xt_funnel_bot", "archived_at": None}


def test_it_refuses_posts_without_the_csrf_token(app, login, space, db):
    make_link(app, space, "promo")
    admin = login("admin")
    assert admin.post(links_path(space, "new"), data=FULL_FORM).status_code == 403
    assert admin.post(links_path(space, "promo/archive")).status_code == 403
    assert admin.post(links_path(space, "promo/edit"), data={**FULL_FORM, "csrf_token": "forged"}).status_code == 403
    assert db.execute("SELECT count(*) AS n FROM links WHERE archived_at IS NULL").fetchone()["n"] == 1


def test_it_sends_anonymous_visitors_to_login(client, space):
    for response in (client.get(links_path(space)), client.get(links_path(space, "new")),
                     client.post(links_path(space, "new"), data=FULL_FORM)):
        assert response.status_code == 302 and response.headers["Location"].startswith("/login?next=")


def test_link_archive_and_restore_on_the_command_line(app, client, space):
    make_link(app, space, "promo")
    runner = app.test_cli_runner()
    out = json.loads(runner.invoke(args=["link", "archive", space["slug"], "promo", "--json"]).output)
    assert out["ok"] is True and out["archived_at"] is not None
    listed = json.loads(runner.invoke(args=["link", "list", space["slug"], "--json"]).output)
    assert listed["links"][0]["archived_at"] == out["archived_at"]
    assert open_landing(client, "/promo").status_code == 404
    out = json.loads(runner.invoke(args=["link", "restore", space["slug"], "promo", "--json"]).output)
    assert out["archived_at"] is None
    missing = runner.invoke(args=["link", "archive", space["slug"], "nope", "--json"])
    assert missing.exit_code == 1 and "not a link of" in json.loads(missing.output)["error"]


def test_an_admin_creates_a_link_and_copies_its_landing_url_in_a_browser(browser, app, space, live_server, db):
    make_user(app, "admin@example.com", [(space, "admin")])
    slug = "b" + uuid.uuid4().hex[:8]
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    tab = context.new_page()
    browser_sign_in(tab, live_server.url, "admin@example.com", space=space)
    tab.click("#tab-links")
    tab.click("#new-link")
    tab.fill("#f-slug", slug)
    tab.select_option("#f-kind", "web")
    tab.fill("#f-target", "https://shop.example/start/{uid}")
    tab.fill("#f-utm_source", "facebook")
    tab.click("#save-link")
    expect(tab.locator("#notice")).to_contain_text("Link created")
    row = tab.locator(f"tr#link-{slug}")
    expect(row.locator(f"#landing-{slug}")).to_have_text(f"{app.config['PUBLIC_URL']}/{slug}")
    copy = row.locator(".landing-urls button.copy").first
    copy.click()
    expect(copy).to_have_text("Copied")
    screenshot(tab, "setup-links")
    tab.click(f"tr#link-{slug} a.edit")
    expect(tab.locator("#fixed-slug")).to_contain_text(slug)
    tab.screenshot(path=str(ARTIFACTS / "setup-link-edit-1440.png"), full_page=True)
    tab.click("#save-link")
    tab.once("dialog", lambda dialog: dialog.accept())
    tab.click(f"tr#link-{slug} form.archive button")
    expect(tab.locator(f"#archived-links tr#link-{slug} form.restore button")).to_be_visible()
    tab.screenshot(path=str(ARTIFACTS / "setup-links-archived-1440.png"), full_page=True)
    context.close()
    assert db.execute("SELECT slug, kind, campaign_defaults, archived_at IS NOT NULL AS archived FROM links"
                      ).fetchall() == [{"slug": slug, "kind": "web", "campaign_defaults": {"utm_source": "facebook"},
                                        "archived": True}]
