"""What partners really send: placeholders in disguise, a second `?`, back-filled clicks with their own time and fbc."""
from datetime import timedelta

import pytest

from app.conversion.events import split_glued
from app.lib import placeholders
from tests.conftest import bearer


def get_raw(client, space: dict, query: str):
    """GET /e with a query written by hand (percent-encoding exactly as a network sends it)."""
    return client.get(f"/e?token={space['ingest']}&{query}")


def events(db) -> list[dict]:
    return db.execute("SELECT event, uid, value::text, currency, eid FROM events ORDER BY id").fetchall()


# 1. Placeholders in disguise ---------------------------------------------------------------------

def test_a_twice_encoded_placeholder_eid_is_refused_and_the_next_deposit_counts(client, space, db):
    first = get_raw(client, space, "event=deposit&uid=abc&value=10&eid=%257Btxid%257D")
    assert first.status_code == 400 and first.json["status"] == "invalid_eid"
    assert "{txid}" in first.json["error"]
    # The same unexpanded literal again is refused again, never a "duplicate" that swallows revenue.
    again = get_raw(client, space, "event=deposit&uid=abc&value=35&eid=%257Btxid%257D")
    assert again.status_code == 400 and again.json["status"] == "invalid_eid"
    second = get_raw(client, space, "event=deposit&uid=abc&value=35&eid=tx-9")
    assert second.json["status"] == "queued"
    assert events(db) == [{"event": "deposit", "uid": "abc", "value": "35.000000", "currency": "USD", "eid": "tx-9"}]


@pytest.mark.parametrize("encoded", [
    "%7Btxid%7D", "%257Btxid%257D", "%25257Btxid%25257D", "%5Btxid%5D", "%255Btxid%255D", "%2525TXID%2525",
    "%25TXID%25", "%23txid%23", "%2523txid%2523", "%7B%7Btxid%7D%7D", "dep-%257Btxid%257D",
])
def test_an_eid_placeholder_is_refused_however_many_times_it_was_encoded(client, space, db, encoded):
    r = get_raw(client, space, f"event=deposit&uid=abc&value=10&eid={encoded}")
    assert r.status_code == 400 and r.json["status"] == "invalid_eid"
    assert events(db) == []


@pytest.mark.parametrize("field, value, status", [
    ("value", "%257Bsumdep%257D", "invalid_value"),
    ("uid", "%257Bclick_id%257D", "invalid_uid"),
    ("currency", "%257Bcurrency%257D", "invalid_currency"),
    ("tg_id", "%257Btg%257D", "invalid_tg_id"),
    ("t", "%257Btimestamp%257D", "invalid_time"),
    ("event", "%257Bevent%257D", "invalid_event"),
])
def test_a_placeholder_in_any_refused_field_is_named_in_the_error(client, space, db, field, value, status):
    base = {"event": "deposit", "uid": "abc", "value": "10", "eid": "tx-1"}
    base[field] = value
    r = get_raw(client, space, "&".join(f"{k}={v}" for k, v in base.items()))
    assert r.status_code == 400 and r.json["status"] == status
    assert "placeholder" in r.json["error"] and "{" in r.json["error"]


def test_post_events_refuses_an_encoded_placeholder_eid_too(client, space, db):
    r = client.post("/events", json={"event": "deposit", "uid": "abc", "value": "5", "eid": "%7Btrader_id%7D"},
                    headers=bearer(space))
    assert r.status_code == 400 and r.json["status"] == "invalid_eid"


def test_ordinary_percent_signs_and_hashes_are_not_placeholders():
    for text in ("50%", "tx-100%25", "a%20b", "order#1", "#1#", "abc", "%41BC"):
        assert placeholders.find(text) is None, text
    assert placeholders.find("%257Btxid%257D") == "{txid}"
    assert placeholders.find("%2523ftd_id%2523") == "#ftd_id#"


@pytest.mark.parametrize("text", ["[2001:db8::1]:443", "[::1]", "%5B2001%3Adb8%3A%3A1%5D", "[fe80::1%eth0]:8080",
                                  "[::ffff:192.0.2.7]", "http://[2001:db8::a]/x"])
def test_a_bracketed_ipv6_address_is_not_a_placeholder(text):
    assert placeholders.find(text) is None


@pytest.mark.parametrize("text, found", [("[txid]", "[txid]"), ("[2001:db8::1] [sub1]", "[sub1]"),
                                         ("[2001:db8::zz]", "[2001:db8::zz]"), ("[::1]{clickid}", "{clickid}")])
def test_a_macro_beside_or_shaped_like_an_address_is_still_found(text, found):
    assert placeholders.find(text) == found


# 2. A second `?` from the network ----------------------------------------------------------------

def test_an_encoded_appended_value_is_split_off_the_currency(client, space, db):
    r = get_raw(client, space, "event=deposit&uid=abc&eid=dep-1&currency=USD%3Fvalue%3D25&ftd=1")
    assert r.json["status"] == "queued", r.json
    assert events(db) == [{"event": "deposit", "uid": "abc", "value": "25.000000", "currency": "USD", "eid": "dep-1"}]


def test_an_appended_parameter_on_the_eid_does_not_count_a_deposit_twice(client, space, db):
    first = get_raw(client, space, "event=deposit&uid=abc&value=25&eid=E%3Fn%3D1")
    second = get_raw(client, space, "event=deposit&uid=abc&value=25&eid=E%3Fn%3D2")
    assert (first.json["status"], second.json["status"]) == ("queued", "duplicate")
    assert [e["eid"] for e in events(db)] == ["E"]


def test_a_raw_second_question_mark_is_split_too(client, space, db):
    r = get_raw(client, space, "event=deposit&uid=abc&eid=dep-2&currency=EUR?value=12.5")
    assert r.json["status"] == "queued"
    assert events(db)[0]["value"] == "12.500000" and events(db)[0]["currency"] == "EUR"


def test_get_bind_splits_an_appended_tg(client, space, db):
    r = client.get(f"/bind?token={space['ingest']}&uid=abc%3Ftg%3D555123")
    assert r.status_code == 200 and r.json["ok"] is True
    assert db.execute("SELECT tg_id FROM journeys WHERE uid = 'abc'").fetchone()["tg_id"] == 555123


def test_splitting_keeps_values_that_only_contain_a_question_mark():
    assert split_glued({"eid": "what?"}) == ({"eid": "what?"}, [])
    assert split_glued({"eid": "a?b"}) == ({"eid": "a?b"}, [])
    assert split_glued({"eid": "a?1x=2"}) == ({"eid": "a?1x=2"}, [])


def test_a_split_off_parameter_fills_an_empty_one_but_never_replaces_a_sent_value():
    fields, glued = split_glued({"value": "", "eid": "x?value=5"})
    assert fields == {"value": "5", "eid": "x"} and glued == [("eid", "x?value=5")]
    fields, _ = split_glued({"value": "7", "eid": "x?value=5"})
    assert fields["value"] == "7"


def test_nested_and_multiple_appended_parameters_are_all_split():
    fields, glued = split_glued({"eid": "E%3Fa%3D1%26b%3D2", "c": "3?d=4?e=5"})
    assert fields == {"eid": "E", "a": "1", "b": "2", "c": "3", "d": "4", "e": "5"}
    assert [name for name, _ in glued] == ["eid", "c", "d"]


# 7. POST /clicks: the click's own time and the client's fbc ------------------------------------

def test_a_back_filled_click_keeps_its_own_time_and_fbc_is_dated_by_it(client, space, db, clock):
    clicked = clock.now - timedelta(minutes=15)
    clicked_ms = int(clicked.timestamp() * 1000)
    r = client.post("/clicks", json={"fbclid": "IwAR-Mixed_Case", "clicked_at_ms": clicked_ms}, headers=bearer(space))
    assert r.status_code == 200
    row = db.execute("SELECT created_at, fbc FROM clicks").fetchone()
    assert row["created_at"] == clicked
    assert row["fbc"] == f"fb.1.{clicked_ms}.IwAR-Mixed_Case"
    assert db.execute("SELECT clicked_at FROM journeys").fetchone()["clicked_at"] == clicked


def test_a_well_formed_client_fbc_is_kept_byte_for_byte(client, space, db):
    fbc = "fb.2.1764080000123.IwAR0_Xy-Z.aBc"
    r = client.post("/clicks", json={"fbc": fbc}, headers=bearer(space))
    assert r.status_code == 200
    row = db.execute("SELECT fbc, fbclid FROM clicks").fetchone()
    assert row == {"fbc": fbc, "fbclid": "IwAR0_Xy-Z.aBc"}


@pytest.mark.parametrize("fbc", ["fb.1.123.abc", "fb.3.1764080000123.abc", "fbc.1.1764080000123.abc",
                                 "fb.1.1764080000123.", "fb.1.1764080000123.a b", "IwAR123"])
def test_a_malformed_fbc_is_refused(client, space, db, fbc):
    r = client.post("/clicks", json={"fbc": fbc}, headers=bearer(space))
    assert r.status_code == 400 and r.json["status"] == "invalid_request" and "fbc" in r.json["error"]


@pytest.mark.parametrize("clicked_at_ms, why", [
    (1764086400, "seconds"), ("soon", "whole epoch"), (10**13 * 9, "future"), (1_000_000_000_000, "days"),
])
def test_clicked_at_ms_follows_the_occurred_at_ms_rules(client, space, db, clicked_at_ms, why):
    r = client.post("/clicks", json={"clicked_at_ms": clicked_at_ms}, headers=bearer(space))
    assert r.status_code == 400 and r.json["status"] == "invalid_time" and why in r.json["error"]
    assert db.execute("SELECT count(*) AS n FROM clicks").fetchone()["n"] == 0


# 4. POST /clicks client_ip in the landing's one form ----------------------------------------------

@pytest.mark.parametrize("sent, stored", [
    ("::ffff:198.51.100.4", "198.51.100.4"), ("::FFFF:C633:6404", "198.51.100.4"),
    ("203.0.113.7:52311", "203.0.113.7"), ("[2001:DB8::1]:443", "2001:db8::1"), ("fe80::1%eth0", "fe80::1"),
    (" 2001:0db8:0000::0001 ", "2001:db8::1"),
])
def test_client_ip_is_stored_as_the_landing_stores_it(client, space, db, sent, stored):
    r = client.post("/clicks", json={"client_ip": sent}, headers=bearer(space))
    assert r.status_code == 200
    assert db.execute("SELECT host(client_ip) AS ip FROM clicks").fetchone()["ip"] == stored


def test_a_long_raw_query_is_cut_at_a_whole_parameter_and_flagged(client, space, db):
    raw_query = "utm_source=fb&" + "&".join(f"p{i}={'x' * 90}" for i in range(100))
    r = client.post("/clicks", json={"raw_query": raw_query}, headers=bearer(space))
    assert r.status_code == 200
    row = db.execute("SELECT raw_query, flags, utm_source FROM clicks").fetchone()
    assert row["flags"] == ["raw_query_cut"] and row["utm_source"] == "fb"
    assert len(row["raw_query"]) <= 8192 and raw_query.startswith(row["raw_query"] + "&")
