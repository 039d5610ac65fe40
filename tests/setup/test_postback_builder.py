"""The postback URL builder: presets, macros left for the partner, encoding, validation, the endpoint."""
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

from app.setup import snippets
from tests.conftest import make_space, screenshot
from tests.setup.conftest import browser_sign_in, csrf_of, form_token, html, make_user

BASE = "https://xtracker.cc"


def build(**form) -> snippets.Builder:
    return snippets.build_postback(form, BASE, "xti_tok-en_1")


def query(url: str) -> dict:
    """The URL's query as {name: value} (decoded), after checking it targets GET /e."""
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "xtracker.cc", "/e")
    parsed = parse_qs(parts.query, keep_blank_values=True)
    assert all(len(v) == 1 for v in parsed.values())
    return {k: v[0] for k, v in parsed.items()}


# ---- composition (pure) --------------------------------------------------------------------------


def test_pocket_option_registration_uses_click_id_and_trader_id():
    builder = build(preset="pocket_option", event="registration")
    assert query(builder.url) == {"token": "xti_tok-en_1", "event": "registration", "uid": "{click_id}",
                                  "eid": "{trader_id}"}
    assert "uid={click_id}&eid={trader_id}" in builder.url


def test_pocket_option_first_deposit_carries_sumdep_as_value_and_a_first_deposit_eid():
    builder = build(preset="pocket_option", event="first_deposit")
    assert query(builder.url) == {"token": "xti_tok-en_1", "event": "deposit", "uid": "{click_id}",
                                  "value": "{sumdep}", "currency": "USD", "eid": "ftd-{trader_id}"}
    assert "&value={sumdep}&" in builder.url and "&eid=ftd-{trader_id}" in builder.url
    assert builder.warnings == []


def test_pocket_option_every_deposit_gets_an_eid_per_trader_and_amount():
    q = query(build(preset="pocket_option", event="repeat_deposit").url)
    assert (q["event"], q["value"], q["eid"]) == ("deposit", "{sumdep}", "dep-{trader_id}-{sumdep}")


def test_pocket_option_offers_the_postbacks_it_fires():
    assert [(t.key, t.event) for t in snippets.PRESETS["pocket_option"].triggers] == [
        ("registration", "registration"), ("first_deposit", "deposit"), ("repeat_deposit", "deposit")]


@pytest.mark.parametrize("event", ["contact", "subscribed", "registration"])
def test_generic_events_without_money_carry_no_value(event):
    assert query(build(preset="generic", event=event).url) == {
        "token": "xti_tok-en_1", "event": event, "uid": "{clickid}", "eid": "{txid}"}


def test_generic_deposit_uses_the_network_s_payout_and_currency_macros():
    url = build(preset="generic", event="deposit").url
    assert query(url) == {"token": "xti_tok-en_1", "event": "deposit", "uid": "{clickid}", "value": "{payout}",
                          "currency": "{currency}", "eid": "{txid}"}
    assert url.endswith("&value={payout}&currency={currency}&eid={txid}")


def test_custom_fields_encode_text_and_leave_macros_alone():
    builder = build(preset="custom", event="deposit", uid="sub_[clickid]", value="%AMOUNT%", currency="eur",
                    eid="po deposit #{tx.id}/2")
    raw = urlsplit(builder.url).query
    assert "uid=sub_[clickid]" in raw and "value=%AMOUNT%" in raw and "currency=eur" in raw
    assert "eid=po%20deposit%20%23{tx.id}%2F2" in raw
    assert query(builder.url)["eid"] == "po deposit #{tx.id}/2"


def test_custom_drops_value_and_currency_from_events_without_money():
    q = query(build(preset="custom", event="registration", uid="{sub1}", value="{sum}", eid="{lead}").url)
    assert q == {"token": "xti_tok-en_1", "event": "registration", "uid": "{sub1}", "eid": "{lead}"}


def test_without_a_token_the_url_says_where_it_goes():
    url = snippets.build_postback({"preset": "generic", "event": "deposit"}, BASE, None).url
    assert query(url)["token"] == "XT_INGEST_TOKEN"


def test_the_token_and_event_are_encoded():
    url = snippets.postback_url(BASE, "a&b=c", "deposit", {"uid": "{x}"})
    assert url == f"{BASE}/e?token=a%26b%3Dc&event=deposit&uid={{x}}"


def test_switching_preset_pre_fills_the_macros_and_maps_the_event():
    to_po = build(preset="pocket_option", event="deposit", applied="generic/deposit", uid="{clickid}",
                  value="{payout}", currency="{currency}", eid="{txid}")
    assert to_po.trigger.key == "first_deposit"
    assert to_po.fields == {"uid": "{click_id}", "value": "{sumdep}", "currency": "USD", "eid": "ftd-{trader_id}"}
    to_generic = build(preset="generic", event="repeat_deposit", applied="pocket_option/repeat_deposit")
    assert (to_generic.trigger.key, to_generic.fields["uid"]) == ("deposit", "{clickid}")
    contact_to_po = build(preset="pocket_option", event="contact", applied="generic/contact")
    assert contact_to_po.trigger.key == "registration"


def test_switching_the_event_re_fills_a_preset_s_macros():
    builder = build(preset="pocket_option", event="registration", applied="pocket_option/first_deposit",
                    uid="{click_id}", value="{sumdep}", currency="USD", eid="ftd-{trader_id}")
    assert builder.fields["eid"] == "{trader_id}"


def test_edited_macros_are_kept_while_preset_and_event_stay():
    builder = build(preset="pocket_option", event="first_deposit", applied="pocket_option/first_deposit",
                    uid="{click_id}", value="{sumdep}", currency="EUR", eid="ftd-{trader_id}")
    assert query(builder.url)["currency"] == "EUR"


def test_switching_to_custom_keeps_what_was_there():
    builder = build(preset="custom", event="first_deposit", applied="pocket_option/first_deposit",
                    uid="{click_id}", value="{sumdep}", currency="USD", eid="ftd-{trader_id}")
    assert builder.trigger.key == "deposit" and query(builder.url)["eid"] == "ftd-{trader_id}"


@pytest.mark.parametrize("form, field, reason", [
    ({"preset": "tradedoubler", "event": "deposit"}, "preset", "unknown preset"),
    ({"preset": "generic", "event": "purchase"}, "event", "Generic network postbacks are"),
    ({"preset": "pocket_option", "event": "contact", "applied": "pocket_option/registration"}, "event",
     "Pocket Option postbacks are: Registration, First deposit (FTD), Every deposit"),
    ({"preset": "custom", "event": "deposit", "currency": "dollars", "eid": "{tx}"}, "currency", "ISO 4217"),
    ({"preset": "custom", "event": "deposit", "value": "{sum}USD", "eid": "{tx}"}, "value", "single macro"),
    ({"preset": "custom", "event": "deposit", "value": "abc", "eid": "{tx}"}, "value", "not numeric"),
    ({"preset": "custom", "event": "deposit", "uid": "{click_id", "eid": "{tx}"}, "uid", "a macro is written"),
    ({"preset": "custom", "event": "deposit", "uid": "a b{c}", "eid": "{tx}"}, "uid", "A-Z a-z 0-9 _ -"),
    ({"preset": "custom", "event": "deposit", "eid": "tx-1"}, "eid", "duplicate"),
    ({"preset": "custom", "event": "deposit", "eid": "{x}" + "y" * 200}, "eid", "at most 200"),
])
def test_it_refuses_what_would_not_work(form, field, reason):
    builder = build(**form)
    assert builder.url is None and reason in builder.errors[field]


def test_it_warns_about_urls_that_record_less_than_they_could():
    builder = build(preset="custom", event="deposit", uid="fixed-uid")
    assert builder.url and builder.warnings == [
        "The uid is fixed text: every postback lands on the same journey.",
        "No value: deposits are counted but do not move revenue.",
        "No eid: a re-fired postback is counted again (each gets its receive time)."]


@pytest.mark.parametrize("preset, event, fill", [
    ("pocket_option", "registration", {"{click_id}": "c1", "{trader_id}": "77"}),
    ("pocket_option", "first_deposit", {"{click_id}": "c1", "{sumdep}": "50.5", "{trader_id}": "77"}),
    ("pocket_option", "repeat_deposit", {"{click_id}": "c1", "{sumdep}": "20", "{trader_id}": "77"}),
    ("generic", "deposit", {"{clickid}": "c2", "{payout}": "9.99", "{currency}": "EUR", "{txid}": "t-9"}),
])
def test_each_preset_s_url_is_accepted_once_the_partner_fills_it_in(app, client, space, db, preset, event, fill):
    url = snippets.build_postback({"preset": preset, "event": event}, BASE, space["ingest"]).url
    for macro, value in fill.items():
        url = url.replace(macro, value)
    response = client.get(url.removeprefix(BASE))
    assert response.status_code == 200 and response.json["status"] == "queued", response.json


# ---- the endpoint --------------------------------------------------------------------------------


def builder_path(space) -> str:
    return f"/spaces/{space['slug']}/keys/postback"


@pytest.fixture
def admin(app, login):
    """An admin of `space`, on a deployment whose PUBLIC_URL is the hosted one."""
    app.config["PUBLIC_URL"] = BASE
    return login("admin")


def post(client, space, data, htmx=True, csrf=True):
    headers = {"HX-Request": "true"} if htmx else {}
    if csrf:
        data = {"csrf_token": form_token(client, f"/spaces/{space['slug']}/keys/"), **data}
    return client.post(builder_path(space), data=data, headers=headers)


def test_htmx_gets_only_the_builder_with_the_url(admin, space):
    response = post(admin, space, {"preset": "pocket_option", "event": "registration"})
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    body = response.get_data(as_text=True)
    assert "<html" not in body
    fragment = html(response)
    assert fragment.select_one("section#builder") is not None and fragment.select_one("#keys") is None
    url = fragment.select_one("#postback-url").text
    assert query(url) == {"token": "XT_INGEST_TOKEN", "event": "registration", "uid": "{click_id}",
                          "eid": "{trader_id}"}
    assert fragment.select_one("button.copy")["data-copy"] == "#postback-url"


def test_switching_preset_pre_fills_the_macro_fields(admin, space):
    fragment = html(post(admin, space, {"preset": "generic", "event": "first_deposit",
                                        "applied": "pocket_option/first_deposit", "uid": "{click_id}"}))
    assert fragment.select_one("#f-uid")["value"] == "{clickid}"
    assert fragment.select_one("#f-value")["value"] == "{payout}"
    assert fragment.select_one("#f-event option[selected]")["value"] == "deposit"
    assert fragment.select_one("input[name=applied]")["value"] == "generic/deposit"
    registration = html(post(admin, space, {"preset": "generic", "event": "registration",
                                            "applied": "generic/deposit"}))
    assert registration.select_one("#f-value") is None


def test_without_javascript_the_whole_page_comes_back_with_the_result(admin, space):
    response = post(admin, space, {"preset": "generic", "event": "deposit"}, htmx=False)
    assert response.status_code == 200
    page = html(response)
    assert page.select_one("#keys") is not None and page.select_one("#curl-events") is not None
    assert query(page.select_one("#postback-url").text)["value"] == "{payout}"
    assert page.select_one("#revealed") is None


def test_an_unknown_preset_or_event_answers_400_with_a_reason(admin, space):
    response = post(admin, space, {"preset": "nope", "event": "deposit"})
    assert response.status_code == 400
    assert "unknown preset" in html(response).select_one("#builder-error").text
    response = post(admin, space, {"preset": "generic", "event": "purchase"})
    assert response.status_code == 400 and html(response).select_one("#postback-url") is None
    assert "Generic network postbacks are" in html(response).select_one("#builder-error").text
    page = post(admin, space, {"preset": "nope", "event": "deposit"}, htmx=False)
    assert page.status_code == 400 and "unknown preset" in html(page).select_one("#builder-error").text


def test_a_bad_field_re_renders_the_submitted_values_with_its_error(admin, space):
    form = {"preset": "custom", "event": "deposit", "uid": "{sub1}", "value": "{amount}", "currency": "dollars",
            "eid": "{txid}"}
    for htmx in (True, False):
        response = post(admin, space, form, htmx=htmx)
        assert response.status_code == 400
        page = html(response)
        assert {name: page.select_one(f"#f-{name}")["value"] for name in ("uid", "value", "currency", "eid")} == \
            {k: v for k, v in form.items() if k not in ("preset", "event")}
        assert "ISO 4217" in page.select_one("#e-currency").text
        assert page.select_one("#postback-url") is None


def test_a_revealed_ingest_token_fills_the_builder_and_stays_in_post_bodies(admin, space):
    token = form_token(admin, f"/spaces/{space['slug']}/keys/")
    rotated = html(admin.post(f"/spaces/{space['slug']}/keys/rotate", data={"kind": "ingest", "csrf_token": token},
                                 follow_redirects=True))
    ingest = rotated.select_one("#secret-ingest").text.strip()
    form = rotated.select_one("#builder-form")
    assert form["method"] == "post" and form["hx-post"] == builder_path(space)
    assert form.select_one("input[name=ingest_token]")["value"] == ingest
    assert query(rotated.select_one("#postback-url").text)["token"] == ingest
    fragment = html(post(admin, space, {"preset": "generic", "event": "deposit", "ingest_token": ingest}))
    assert query(fragment.select_one("#postback-url").text)["token"] == ingest
    assert fragment.select_one("input[name=ingest_token]")["value"] == ingest


def test_a_carried_token_that_is_not_a_working_ingest_token_of_the_space_is_not_used(app, admin, space, clock):
    bob = make_space(app, "Bob Funnel")
    for foreign in (bob["ingest"], space["bearer"], "xti_" + "x" * 43):
        fragment = html(post(admin, space, {"preset": "generic", "event": "deposit", "ingest_token": foreign}))
        assert query(fragment.select_one("#postback-url").text)["token"] == "XT_INGEST_TOKEN"
        assert fragment.select_one("input[name=ingest_token]") is None
    token = form_token(admin, f"/spaces/{space['slug']}/keys/")
    admin.post(f"/spaces/{space['slug']}/keys/rotate", data={"kind": "ingest", "csrf_token": token})
    in_grace = html(post(admin, space, {"preset": "generic", "event": "deposit", "ingest_token": space["ingest"]}))
    assert query(in_grace.select_one("#postback-url").text)["token"] == space["ingest"]
    clock.advance(hours=24, seconds=1)
    expired = html(post(admin, space, {"preset": "generic", "event": "deposit", "ingest_token": space["ingest"]}))
    assert query(expired.select_one("#postback-url").text)["token"] == "XT_INGEST_TOKEN"


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_it_is_admin_only(login, space, role):
    client = login(role)
    response = client.post(builder_path(space), data={"preset": "generic", "event": "deposit",
                                                      "csrf_token": csrf_of(client, space["slug"])})
    assert response.status_code == 403


def test_it_checks_ownership(app, admin, space, other_space):
    make_user(app, "bob@example.com", [(other_space, "admin")])
    token = form_token(admin, f"/spaces/{space['slug']}/keys/")
    response = admin.post(builder_path(other_space), data={"preset": "generic", "event": "deposit",
                                                           "csrf_token": token})
    assert response.status_code == 404


def test_it_needs_the_csrf_token(admin, space):
    assert post(admin, space, {"preset": "generic", "event": "deposit"}, csrf=False).status_code == 403


def test_anonymous_htmx_requests_are_sent_to_login(client, space):
    response = client.post(builder_path(space), data={"preset": "generic"}, headers={"HX-Request": "true"})
    assert response.status_code == 401 and response.headers["HX-Redirect"].startswith("/login")
    assert client.post(builder_path(space), data={}).headers["Location"].startswith("/login")


# ---- in a browser ----------------------------------------------------------------------------------


def test_the_builder_updates_in_place_in_a_browser(browser, app, live_server, space):
    make_user(app, "alice@example.com", [(space, "admin")])
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    try:
        browser_sign_in(tab, live_server.url, "alice@example.com", space=space)
        tab.goto(f"{live_server.url}/spaces/{space['slug']}/keys/")
        expect(tab.locator("#postback-url")).to_contain_text("eid=ftd-{trader_id}")
        tab.select_option("#f-preset", "generic")
        expect(tab.locator("#f-uid")).to_have_value("{clickid}")
        expect(tab.locator("#postback-url")).to_contain_text("uid={clickid}&value={payout}")
        tab.select_option("#f-preset", "custom")
        expect(tab.locator("#preset-note")).to_contain_text("Type each field")
        tab.fill("#f-currency", "dollars")
        tab.locator("#f-currency").dispatch_event("change")
        expect(tab.locator("#e-currency")).to_contain_text("ISO 4217")
        expect(tab.locator("#f-currency")).to_have_value("dollars")
        tab.fill("#f-currency", "EUR")
        tab.locator("#f-currency").dispatch_event("change")
        expect(tab.locator("#postback-url")).to_contain_text("currency=EUR")
        assert tab.url.endswith("/keys/")
        tab.click("#rotate-both")
        secret = tab.locator("#secret-ingest").inner_text()
        expect(tab.locator("#curl-e")).to_contain_text(secret)
        expect(tab.locator("#postback-url")).to_contain_text(f"token={secret}")
        screenshot(tab, "keys", widths=(1280, 390), height=900)
    finally:
        context.close()
