"""The malformed-input family: every route, many broken inputs, never a 500 or a traceback.

Text that is not clean UTF-8 (NUL, lone surrogates, invalid bytes) in a path, query, header or
body is refused with 400 `invalid_text` by one request-level rule (app/lib/request_text.py);
everything else malformed gets the endpoint's own 4xx. Nothing is recorded for a refused request.
"""
import json
import logging

import pytest

from app import services
from app.lib import request_text
from tests.conftest import bearer
from tests.dashboard.conftest import csrf_of, login  # noqa: F401

# (query string, body, extra headers): each one must be refused as invalid_text.
BAD_QUERIES = ["eid=%00", "eid=%ff", "eid=%ED%B2%80", "e%00vent=deposit", "%ff=1", "uid=a%C0%AFb", "x=%F4%90%80%80"]
BAD_JSON_BODIES = [
    b'{"event":"deposit","eid":"\\udc80"}', b'{"event":"deposit","eid":"\\ud83d"}', b'{"event":"deposit","eid":"a\\u0000b"}',
    b'{"event":"deposit","eid":"\xff"}', b'{"event":"deposit","eid":"a\x00b"}', b'{"uid":"\\uDC80x","tg_id":1}',
    b'{"event":"deposit","eid":"\xed\xb2\x80"}', b'{"\\udc80":1}',
]
BAD_HEADERS = [{"User-Agent": "bot\xff\xfe"}, {"Referer": "http://a/\xc3"}, {"X-Forwarded-For": "1.2.3.4\xff"}]
# Malformed but clean text: each endpoint answers with its own 4xx (or accepts it), never 500.
ODD_QUERIES = ["eid=%", "eid=%zz", "eid=%2", "tg_id=" + "9" * 500, "t=" + "9" * 300, "tg_id=²", "t=١٢٣",
               "value=1e999999", "value=-0", "value=NaN", "uid=" + "a" * 5000, "before=²", "before=" + "9" * 40,
               "limit=99999999999999999999999", "event=deposit&event=contact", "&&&==&", "a=%C3%A9"]
ODD_JSON_BODIES = [
    b'{"event":"deposit","tg_id":"\xc2\xb2"}', b'{"event":"deposit","occurred_at_ms":"' + b"9" * 5000 + b'"}',
    b'{"event":"deposit","tg_id":' + b"9" * 5000 + b'}', b'{"event":"deposit","value":1e400}',
    b'{"event":"deposit","value":"' + b"9" * 400 + b'"}', b'[' * 5000, b'{"event":"deposit","eid":"\\\\udc80"}',
    b'{"event":"deposit","eid":"\\ud83d\\ude00"}', b'{"uid":"\xef\xbf\xbf","tg_id":1}', b'{"event":{"a":[]}}',
    b'{"link_slug":"x","client_ip":"' + b"1" * 600 + b'"}', b'{"country":"\xc3\xa9\xc3\xa9"}', b'\xef\xbb\xbf{}',
]


def _ingress(space):
    token = space["ingest"]
    return [("GET", f"/e?token={token}&event=deposit&"), ("GET", f"/bind?token={token}&uid=abc&tg=1&"),
            ("POST", "/events"), ("POST", "/bind"), ("POST", "/clicks")]


def _flush_received_log(app) -> None:
    services.of(app).received_log.flush()


def _no_traceback(caplog) -> None:
    tracebacks = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert not tracebacks, [r.getMessage() for r in tracebacks]


def _count(db, table: str) -> int:
    return db.execute(f"SELECT count(*) AS n FROM {table}").fetchone()["n"]


def test_bad_text_is_refused_on_every_ingress_endpoint_with_400_invalid_text(client, space, db, caplog):
    caplog.set_level(logging.INFO)
    answers = 0
    for method, path in _ingress(space):
        for query in BAD_QUERIES:
            target = path + query if method == "GET" else f"{path}?{query}"
            response = client.open(target, method=method, headers=bearer(space), data=b'{"event":"contact"}')
            assert response.status_code == 400, (target, response.json)
            assert response.json["status"] == request_text.STATUS
            answers += 1
        for headers in BAD_HEADERS:
            response = client.open(path, method=method, headers={**bearer(space), **headers}, data=b"{}")
            assert response.status_code == 400 and response.json["status"] == "invalid_text", (path, headers)
            assert "header" in response.json["error"]
            answers += 1
        if method == "POST":
            for body in BAD_JSON_BODIES:
                for content_type in ("application/json", "text/plain", None):
                    headers = {**bearer(space), **({"Content-Type": content_type} if content_type else {})}
                    response = client.post(path, data=body, headers=headers)
                    assert response.status_code == 400, (path, body, response.json)
                    assert response.json["status"] == "invalid_text", (path, body, response.json)
                    answers += 1
    assert answers > 100
    _flush_received_log(client.application)
    for table in ("events", "clicks", "journeys", "received_requests"):
        assert _count(db, table) == 0, table
    _no_traceback(caplog)


def test_the_reason_names_the_part_at_fault(client, space):
    cases = {
        f"/e?token={space['ingest']}&eid=%00": "query parameter 'eid' contains a NUL byte",
        f"/e?token={space['ingest']}&eid=%ff": "query parameter 'eid' is not valid UTF-8",
    }
    for target, reason in cases.items():
        assert reason in client.get(target).json["error"]
    response = client.post("/events", data=b'{"eid":"\\udc80"}', headers=bearer(space))
    assert "lone surrogate" in response.json["error"]
    response = client.get("/x", environ_overrides={"PATH_INFO": "/\xff"})
    assert response.status_code == 400 and "the path is not valid UTF-8" in response.json["error"]


@pytest.mark.parametrize("raw_path", ["/\x00", "/\xff", "/e\x00", "/\xed\xb2\x80", "/spaces/\xff/", "/docs/\x00",
                                      "/invite/\xc0\xaf", "/a\x00b/c"])
def test_a_path_with_bad_bytes_answers_400_not_500(client, raw_path, caplog):
    # PATH_INFO carries the request's raw bytes as latin-1 code points (PEP 3333), as gunicorn gives it.
    response = client.get("/x", environ_overrides={"PATH_INFO": raw_path})
    assert response.status_code == 400
    assert response.json["status"] == "invalid_text"
    _no_traceback(caplog)


def test_odd_but_clean_inputs_get_the_endpoints_own_4xx_never_500(client, space, db, caplog):
    caplog.set_level(logging.INFO)
    seen = set()
    for method, path in _ingress(space):
        for query in ODD_QUERIES:
            target = path + query if method == "GET" else f"{path}?{query}"
            response = client.open(target, method=method, headers=bearer(space), data=b'{"event":"contact"}')
            assert response.status_code < 500, (target, response.get_data(as_text=True))
            seen.add(response.status_code)
        if method == "POST":
            for body in ODD_JSON_BODIES:
                response = client.post(path, data=body, headers=bearer(space))
                assert response.status_code < 500, (path, body[:80], response.get_data(as_text=True))
                seen.add(response.status_code)
    assert 400 in seen
    _no_traceback(caplog)


def test_the_landing_refuses_bad_text_and_mints_nothing(app, client, space, db, caplog):
    from tests.landing.landing_helpers import make_link
    link = make_link(app, space, slug="spring")
    for query in BAD_QUERIES:
        response = client.get(f"/spring?{query}")
        assert response.status_code == 400 and response.json["status"] == "invalid_text", query
    for headers in BAD_HEADERS:
        assert client.get("/spring", headers=headers).status_code == 400
    for query in ODD_QUERIES:
        # A fresh browser each time (no reuse cookie): each odd but clean landing is a click.
        assert app.test_client().get(f"/spring?{query}").status_code < 500, query
    for raw in ["/\x00", "/\xff", "/spring\x00"]:
        assert client.get("/x", environ_overrides={"PATH_INFO": raw}).status_code == 400
    assert client.get("/%zz").status_code == 404
    assert _count(db, "clicks") == len(ODD_QUERIES)
    assert link.slug == "spring"
    _no_traceback(caplog)


def _dashboard_targets(app, space) -> list[tuple[str, str]]:
    values = {"space": space["slug"], "delivery_id": "1", "destination_id": "1", "user_id": "1", "invitation_id": "1",
              "name": "funnel", "slug": "spring", "hostname": "example.com", "uid": "abc", "token": "t",
              "page": "api", "filename": "css/deck.css"}
    targets = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith(("ingress.", "landing.", "static")) or rule.endpoint.endswith(("live_socket",
                                                                                                 "live_stream")):
            continue
        path = rule.rule
        for argument in rule.arguments:
            value = values.get(argument, "1")
            path = path.replace(f"<{argument}>", value)
            for converter in ("int", "path"):
                path = path.replace(f"<{converter}:{argument}>", value)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            targets.append((method, path))
    return targets


def test_every_dashboard_route_refuses_bad_text_and_never_answers_500(app, space, login, caplog):  # noqa: F811
    client = login("admin")
    csrf = csrf_of(client, space["slug"])
    caplog.set_level(logging.INFO)
    targets = _dashboard_targets(app, space)
    assert len(targets) > 40
    for method, path in targets:
        for query in BAD_QUERIES[:3]:
            response = client.open(f"{path}?{query}", method=method, data={"csrf_token": csrf})
            assert response.status_code == 400 and response.json["status"] == "invalid_text", (method, path, query)
        if method == "POST":
            for body in (f"csrf_token={csrf}&name=%00", f"csrf_token={csrf}&email=a%ffb", f"csrf_token={csrf}&x=%ED%B2%80"):
                response = client.post(path, data=body, content_type="application/x-www-form-urlencoded")
                assert response.status_code == 400 and "form parameter" in response.json["error"], (path, body)
        for query in ODD_QUERIES:
            response = client.open(f"{path}?{query}", method=method, data={"csrf_token": csrf})
            assert response.status_code < 500, (method, path, query, response.get_data(as_text=True)[:300])
    _no_traceback(caplog)


def test_head_on_ingress_gets_405_and_records_nothing(client, space, db):
    for target in (f"/e?token={space['ingest']}&event=contact&uid=abc", f"/bind?token={space['ingest']}&uid=abc&tg=7"):
        response = client.head(target)
        assert response.status_code == 405
        assert "GET" in response.headers["Allow"] and "HEAD" not in response.headers["Allow"]
    assert "POST" in client.head(f"/bind?token={space['ingest']}").headers["Allow"]
    _flush_received_log(client.application)
    for table in ("events", "journeys", "received_requests"):
        assert _count(db, table) == 0, table
    assert client.get(f"/e?token={space['ingest']}&event=contact&uid=abc").json["status"] == "queued"


def test_head_on_a_landing_answers_the_page_and_mints_no_click(app, client, space, db):
    from tests.landing.landing_helpers import make_link
    make_link(app, space, slug="spring")
    response = client.head("/spring", headers={"User-Agent": "Mozilla/5.0 (iPhone)"})
    assert response.status_code in (200, 302)
    assert "xt_uid" not in response.headers.get("Set-Cookie", "")
    assert _count(db, "clicks") == 0 and _count(db, "events") == 0


def test_json_escapes_are_judged_as_json_reads_them():
    check = request_text.check_json_escapes
    for clean in (b'{"a":"\\ud83d\\ude00"}', b'{"a":"\\\\udc80"}', b'{"a":"\\\\u0000"}', b'{"a":"\\u00e9"}', b"{}"):
        check(clean)
    for bad in (b'{"a":"\\udc80"}', b'{"a":"\\ud83d"}', b'{"a":"\\ud83dx"}', b'{"a":"\\u0000"}', b'{"a":"\\\\\\udc80"}',
                b'{"a":"\\ud83d\\ud83d"}', b'{"a":"\\U0000"}'[:0] + b'{"a":"\\uD800"}'):
        with pytest.raises(request_text.BadText):
            check(bad)
    assert json.loads(b'{"a":"\\\\udc80"}')["a"] == "\\udc80"
