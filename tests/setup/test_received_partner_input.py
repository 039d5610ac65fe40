"""The received log explains real-world input exactly: the error the client got, journeys that exist,
encoded placeholders, partner-appended parameters, typos and broken JSON, and uids whose case was changed."""
import pytest

from tests.setup.conftest import html
from tests.setup.test_received import flush, get, logged, make_click, page_url, post


def shown_row(app, login, space, db, index: int = -1):
    """The page's rendering of the space's stored row at `index` (oldest first)."""
    row = logged(app, db, space)[index]
    return row, html(login("viewer").get(page_url(space))).select_one(f"#rq-{row['id']}")


def warning_text(shown, code: str) -> str:
    found = shown.select_one(f'.warning[data-code="{code}"]')
    assert found is not None, f"no {code} warning in {shown}"
    return found.get_text(" ", strip=True)


def test_a_twice_encoded_placeholder_gets_the_same_warning_as_a_plain_one(app, client, login, space, db):
    client.get(f"/e?token={space['ingest']}&event=deposit&uid=u-1&value=10&eid=%257Btxid%257D")
    row, shown = shown_row(app, login, space, db)
    assert row["status"] == "invalid_eid" and row["warnings"] == ["unexpanded_macro", "unknown_uid"]
    text = warning_text(shown, "unexpanded_macro")
    assert "eid=%7Btxid%7D (the placeholder {txid}, percent-encoded)" in text and "not recorded" in text


def test_a_bracketed_ipv6_client_ip_is_not_taken_for_a_macro(app, client, login, space, db):
    from tests.conftest import bearer
    r = client.post("/clicks", json={"client_ip": "[2001:db8::1]:443"}, headers=bearer(space))
    assert r.status_code == 200
    row, shown = shown_row(app, login, space, db)
    assert row["endpoint"] == "POST /clicks" and "unexpanded_macro" not in row["warnings"], row
    assert shown.select_one('.warning[data-code="unexpanded_macro"]') is None


def test_a_placeholder_in_an_unchecked_parameter_is_flagged_and_the_request_kept(app, client, login, space, db):
    client.get(f"/e?token={space['ingest']}&event=registration&uid=u-1&sub1=%2523click_id%2523")
    row, shown = shown_row(app, login, space, db)
    assert row["status"] == "queued" and "unexpanded_macro" in row["warnings"]
    assert "not recorded" not in warning_text(shown, "unexpanded_macro")


def test_partner_appended_parameters_are_shown_with_the_original_and_how_they_were_read(
        app, client, login, space, db):
    uid = make_click(client, space)
    r = client.get(f"/e?token={space['ingest']}&event=deposit&uid={uid}&eid=d-1&currency=USD%3Fvalue%3D25&ftd=1")
    assert r.json["status"] == "queued"
    row, shown = shown_row(app, login, space, db)
    assert row["params"]["currency"] == "USD?value=25"
    assert row["warnings"] == ["appended_parameters"]  # no "deposit without value": value=25 was read
    text = warning_text(shown, "appended_parameters")
    assert "currency=USD?value=25" in text and "currency=USD, value=25" in text


def test_get_bind_with_appended_parameters_is_flagged(app, client, space, db):
    client.get(f"/bind?token={space['ingest']}&uid=u-7?tg=555")
    row = logged(app, db, space)[-1]
    assert row["status"] == "bound" and row["uid"] == "u-7" and "appended_parameters" in row["warnings"]


@pytest.mark.parametrize("body, status, error", [
    ({"event": "deposit", "vaule": "25", "uid": "u-1"}, "invalid_request", "unknown field 'vaule'"),
    ('{"event": "deposit", "value": "25",', "invalid_json", "request body is not valid JSON"),
    ("[1, 2]", "invalid_json", "request body must be a JSON object"),
])
def test_a_typo_or_broken_json_shows_the_exact_error_and_no_misleading_warning(
        app, client, login, space, db, body, status, error):
    response = post(client, "/events", space, body)
    assert response.json["status"] == status
    row, shown = shown_row(app, login, space, db)
    assert row["warnings"] == [] or row["warnings"] == ["unknown_uid"]
    assert shown.select(".warning[data-code='deposit_without_value']") == []
    assert shown.select(".warning[data-code='invalid_event']") == []
    assert shown.select_one(".status .error-text").get_text() == response.json["error"]
    assert error in response.json["error"]


def test_every_refused_row_shows_the_error_text_the_client_received(app, client, login, space, db):
    answers = [get(client, "/e", space, event="deposit", value="12abc"),
               get(client, "/e", space, event="lead"),
               post(client, "/bind", space, {"uid": "u-1"}),
               post(client, "/clicks", space, {"country": "Narnia"})]
    flush(app)
    page = html(login("viewer").get(page_url(space)))
    shown = [p.get_text() for p in page.select(".received-row .status .error-text")]
    assert sorted(shown) == sorted(a.json["error"] for a in answers)


def test_an_accepted_row_shows_no_error_text(app, client, login, space, db):
    get(client, "/e", space, event="registration", uid="u-1")
    _, shown = shown_row(app, login, space, db)
    assert shown.select_one(".error-text") is None


def test_refused_requests_do_not_link_to_journeys_that_do_not_exist(app, client, login, space, db):
    get(client, "/e", space, event="deposit", uid="never-seen", value="abc")
    row, shown = shown_row(app, login, space, db)
    assert row["uid"] == "never-seen"
    assert shown.select_one(".uid a") is None and shown.select_one(".uid").get_text(strip=True) == "never-seen"
    journey = login("viewer").get(f"/spaces/{space['slug']}/received/journeys/never-seen")
    assert journey.status_code == 404
    text = warning_text(shown, "unknown_uid")
    assert "is kept" not in text and "was refused (invalid_value)" in text


def test_accepted_requests_link_to_their_journey(app, client, login, space, db):
    get(client, "/e", space, event="registration", uid="fresh-uid")
    row, shown = shown_row(app, login, space, db)
    link = shown.select_one(".uid a")
    assert link["href"] == f"/spaces/{space['slug']}/received/journeys/fresh-uid"
    assert login("viewer").get(link["href"]).status_code == 200
    assert "is kept" in warning_text(shown, "unknown_uid")


def test_unknown_uid_names_a_click_whose_uid_differs_only_in_letter_case(app, client, login, space, db):
    uid = make_click(client, space, fbclid="x")
    assert uid.lower() != uid
    get(client, "/e", space, event="deposit", uid=uid.lower(), value="5", eid="d-lc")
    row, shown = shown_row(app, login, space, db)
    assert "unknown_uid" in row["warnings"]
    text = warning_text(shown, "unknown_uid")
    assert uid in text and "letter case" in text


def test_unknown_uid_without_a_case_variant_does_not_claim_one(app, client, login, space, db):
    make_click(client, space, fbclid="x")
    get(client, "/e", space, event="registration", uid="Completely-Other")
    _, shown = shown_row(app, login, space, db)
    assert "letter case" not in warning_text(shown, "unknown_uid")


def test_a_case_variant_in_another_space_is_not_named(app, client, login, space, other_space, db):
    uid = make_click(client, other_space, fbclid="x")
    get(client, "/e", space, event="registration", uid=uid.lower())
    _, shown = shown_row(app, login, space, db)
    text = warning_text(shown, "unknown_uid")
    assert uid not in text and "letter case" not in text


@pytest.mark.parametrize("body", [
    '{"event": "deposit", "uid": "u-1", "value": NaN}',
    '{"event": "deposit", "uid": "u-1", "value": -Infinity}',
    '{"event": "deposit", "uid": "u-1", "value": 1e999}',
])
def test_a_body_that_is_not_json_for_postgres_is_logged_with_its_neighbours(app, client, space, db, body):
    before = post(client, "/events", space, {"event": "contact", "uid": "before"})
    refused = post(client, "/events", space, body)
    after = post(client, "/events", space, {"event": "contact", "uid": "after"})
    assert refused.status_code == 400
    rows = logged(app, db, space)
    assert [r["status"] for r in rows] == [before.json["status"], refused.json["status"], after.json["status"]]
    assert rows[1]["body_excerpt"] and "u-1" in rows[1]["body_excerpt"]
