"""Over real processes: the text rule behind gunicorn, and no secret in gunicorn's or the worker's logs."""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest
from werkzeug import Response

from app.conversion import wake
from app.delivery import configure
from tests.conftest import ROOT, TEST_SECRET_KEY, LiveServer, make_space


def raw_request(url: str, head: bytes, body: bytes = b"") -> tuple[int, bytes]:
    """Send `head` (request line and headers, without the final blank line) byte for byte; (status, answer)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        extra = f"Content-Length: {len(body)}\r\n".encode() if body else b""
        conn.sendall(head + b"\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + extra + b"\r\n" + body)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    return int(answer.split(b" ", 2)[1]), answer


def log_text(server: LiveServer) -> str:
    server.log.flush()
    server.log.seek(0)
    return server.log.read()


def test_gunicorn_answers_malformed_text_with_400_and_logs_no_traceback(app, live_server):
    space = make_space(app, "Raw bytes")
    token = space["ingest"].encode()
    before = len(log_text(live_server))
    cases = [
        (b"GET /%00 HTTP/1.1", b"", {400}),
        (b"GET /%ff HTTP/1.1", b"", {400}),
        (b"GET /%ED%B2%80 HTTP/1.1", b"", {400}),
        (b"GET /%zz HTTP/1.1", b"", {404}),
        (b"GET /% HTTP/1.1", b"", {404}),
        (b"GET /e?token=" + token + b"&event=deposit&eid=%ff HTTP/1.1", b"", {400}),
        (b"GET /e?token=" + token + b"&event=deposit&eid=%00 HTTP/1.1", b"", {400}),
        (b"GET /e?token=" + token + b"&event=deposit&eid=%zz HTTP/1.1", b"", {200}),
        (b"GET /bind?token=" + token + b"&uid=a%ffb&tg=1 HTTP/1.1", b"", {400}),
        (b"GET /e?token=" + token + b"&event=deposit&tg_id=" + b"9" * 3000 + b" HTTP/1.1", b"", {400}),
        (b"POST /events HTTP/1.1\r\nAuthorization: Bearer " + space["bearer"].encode()
         + b"\r\nContent-Type: application/json", b'{"event":"deposit","eid":"\\udc80"}', {400}),
        (b"POST /events HTTP/1.1\r\nAuthorization: Bearer " + space["bearer"].encode(),
         b'{"event":"deposit","eid":"a\x00b"}', {400}),
        (b"POST /clicks HTTP/1.1\r\nAuthorization: Bearer " + space["bearer"].encode(),
         b'{"user_agent":"\\ud800"}', {400}),
        (b"GET /spaces/%ff/ HTTP/1.1", b"", {400}),
        (b"GET /docs/%00 HTTP/1.1", b"", {400}),
        (b"GET /login HTTP/1.1\r\nUser-Agent: a\xff\xfeb", b"", {400}),
        (b"GET /login?next=%C0%AF HTTP/1.1", b"", {400}),
    ]
    for head, body, expected in cases:
        status, answer = raw_request(live_server.url, head, body)
        assert status in expected, (head[:80], answer[-300:])
        if status == 400 and b"application/json" in answer:
            payload = json.loads(answer.split(b"\r\n\r\n", 1)[1])
            assert payload["ok"] is False and payload["status"] in ("invalid_text", "invalid_tg_id"), payload
    written = log_text(live_server)[before:]
    assert "Traceback" not in written and "unhandled error" not in written, written[-2000:]


@pytest.fixture
def chatty_server(servers):
    """gunicorn from the Procfile at INFO with its access log on (to stdout): every line it can write."""
    server = LiveServer(servers, env={"LOG_LEVEL": "INFO", "GUNICORN_CMD_ARGS": "--access-logfile -",
                                         "PYTHONUNBUFFERED": "1"}).start()
    yield server
    server.stop()


def test_gunicorn_logs_redact_tokens_in_rejected_requests_and_bad_request_lines(app, chatty_server):
    space = make_space(app, "Logged")
    secrets = ["xti_WrongTokenValue1234567890", "xti_BadLineSecret987654321", space["ingest"], "PartnerKey4242"]
    raw_request(chatty_server.url, f"GET /e?token={secrets[0]}&event=contact HTTP/1.1".encode())
    raw_request(chatty_server.url, f"GET /e?token={space['ingest']}&event=nope&api_key={secrets[3]} HTTP/1.1".encode())
    raw_request(chatty_server.url, f"GET /e?token={space['ingest']}&eid=%00 HTTP/1.1".encode())
    # Bad request lines gunicorn itself refuses, quoting the line in its error log.
    raw_request(chatty_server.url, f"GET /e?token={secrets[1]}&x=a b HTTP/1.1".encode())
    raw_request(chatty_server.url, f"GET /e?token={secrets[1]}\x01 HTTP/1.1".encode())
    raw_request(chatty_server.url, f"GET /e?token={secrets[1]} HTTP/9.9".encode())
    raw_request(chatty_server.url, f"GET /e?token={secrets[1]}&pad={'p' * 5000} HTTP/1.1".encode())
    time.sleep(0.5)
    written = log_text(chatty_server)
    assert written, "the server wrote no log"
    assert "GET /e?token=[redacted]" in written, written[-3000:]
    assert "Invalid request" in written, written[-3000:]
    for secret in secrets:
        assert secret not in written, (secret, written[-3000:])


def test_the_worker_logs_destinations_by_id_and_host_never_their_url(app, servers, httpserver, db):
    space = make_space(app, "Postbacks")
    httpserver.expect_request("/pb/PathKey777").respond_with_response(Response("no", status=500))
    template = httpserver.url_for("/pb/PathKey777") + "?key=PartnerKey999&secret=s3cr3tV4lue&c={uid}"
    with app.app_context():
        destination, _ = configure.create_destination(space["id"], "postback", {"url_template": template})
    response = app.test_client().post("/events", data=json.dumps({"event": "deposit", "uid": "abc", "value": "5"}),
                                      headers={"Authorization": f"Bearer {space['bearer']}"})
    assert response.json["status"] == "queued"
    log = tempfile.NamedTemporaryFile("w+", prefix="xt-worker-", suffix=".log")
    env = {**os.environ, "DATABASE_URL": servers.database_url, "REDIS_URL": servers.redis_url,
           "SECRET_KEY": TEST_SECRET_KEY, "LOG_LEVEL": "DEBUG", "ALLOW_PRIVATE_DESTINATIONS": "1"}
    worker = subprocess.Popen([sys.executable, "-m", "jobs.worker"], cwd=ROOT, env=env, stdout=log,
                              stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            wake.wake(app, wake.DELIVERY)
            if db.execute("SELECT count(*) AS n FROM delivery_attempts").fetchone()["n"]:
                break
            time.sleep(0.3)
        else:
            pytest.fail("the worker made no attempt")
        time.sleep(0.5)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(15)
    log.seek(0)
    written = log.read()
    host = httpserver.host
    assert f"destination {destination.id} of space {space['id']} (postback, host {host})" in written, written[-3000:]
    for secret in ("PathKey777", "PartnerKey999", "s3cr3tV4lue", space["bearer"]):
        assert secret not in written, (secret, written[-3000:])
