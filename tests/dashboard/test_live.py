"""The live feed over a websocket and SSE against gunicorn (the Procfile's web line, gevent)."""
import json
import re
import time

import httpx
import pytest
import websocket

from tests.conftest import bearer
from tests.dashboard.conftest import PASSWORD, make_user


def browser_session(server, email: str) -> httpx.Client:
    """An httpx client signed in to the live server through the login form."""
    client = httpx.Client(base_url=server.url, timeout=5)
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    response = client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302
    return client


def open_socket(server, space_slug: str, client: httpx.Client | None, **headers) -> websocket.WebSocket:
    cookie = f"xt_session={client.cookies['xt_session']}" if client else None
    header = [f"{k}: {v}" for k, v in headers.items()]
    return websocket.create_connection(f"ws://127.0.0.1:{server.port}/spaces/{space_slug}/ws", timeout=5,
                                       cookie=cookie, header=header)


def post_event(server, space: dict, **body) -> str:
    response = httpx.post(server.url + "/events", json=body, headers=bearer(space), timeout=5)
    assert response.status_code == 200, response.text
    return response.json()["inbox_id"]


def receive_until(ws, needle: str, seconds: float = 3.0) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ws.settimeout(max(deadline - time.monotonic(), 0.05))
        try:
            frame = ws.recv()
        except websocket.WebSocketTimeoutException:
            break
        if needle in frame:
            return frame
    raise AssertionError(f"no frame containing {needle!r} within {seconds}s")


@pytest.fixture
def alice(app, live_server, space):
    make_user(app, "alice@example.com", [(space, "viewer")])
    client = browser_session(live_server, "alice@example.com")
    yield client
    client.close()


def test_it_sends_the_last_rows_on_open_then_each_new_event(live_server, alice, space):
    first = post_event(live_server, space, event="contact", uid="u-before")
    ws = open_socket(live_server, space["slug"], alice)
    try:
        opening = receive_until(ws, 'id="feed-rows" hx-swap-oob="true"')
        assert f'id="ev-{first}"' in opening
        inbox_id = post_event(live_server, space, event="deposit", uid="u-live", value="12.50", currency="USD")
        frame = receive_until(ws, f'id="ev-{inbox_id}"')
        assert 'hx-swap-oob="afterbegin"' in frame and 'data-signal="event"' in frame
        assert "12.50 USD" in frame and "u-live" in frame
    finally:
        ws.close()


def test_it_keeps_other_spaces_events_off_the_socket(live_server, alice, space, other_space):
    ws = open_socket(live_server, space["slug"], alice)
    try:
        receive_until(ws, 'id="feed-rows"')
        theirs = post_event(live_server, other_space, event="contact", uid="bob-1")
        mine = post_event(live_server, space, event="contact", uid="alice-1")
        frame = receive_until(ws, f'id="ev-{mine}"')
        assert f'id="ev-{theirs}"' not in frame
    finally:
        ws.close()


def test_it_checks_ownership(live_server, alice, other_space):
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        open_socket(live_server, other_space["slug"], alice)
    assert refused.value.status_code == 404
    assert alice.get(f"/spaces/{other_space['slug']}/sse").status_code == 404


def test_it_refuses_anonymous_and_cross_site_sockets(live_server, alice, space):
    with pytest.raises(websocket.WebSocketBadStatusException) as anonymous:
        open_socket(live_server, space["slug"], None)
    assert anonymous.value.status_code == 401
    with pytest.raises(websocket.WebSocketBadStatusException) as cross_site:
        open_socket(live_server, space["slug"], alice, Origin="https://evil.example.com")
    assert cross_site.value.status_code == 403


def test_it_streams_the_same_feed_as_server_sent_events(live_server, alice, space):
    with alice.stream("GET", f"/spaces/{space['slug']}/sse", timeout=5) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.iter_lines()
        seen = []
        for line in lines:
            seen.append(line)
            if line.startswith("data:") and "feed-rows" in line:
                break
        inbox_id = post_event(live_server, space, event="registration", uid="sse-1")
        for line in lines:
            if f'id="ev-{inbox_id}"' in line:
                break
        assert "event: feed" in seen


def test_it_pushes_delivery_badges_as_statuses_change(app, live_server, alice, space, redis):
    from app import db
    inbox_id = post_event(live_server, space, event="subscribed", uid="badge-1")
    with app.app_context():
        with db.transaction() as conn:
            destination = conn.execute(
                "INSERT INTO destinations (space_id, kind, name, config, event_map, created_at)"
                " VALUES (%s, 'webhook', 'Hook', '{}', '{\"subscribed\": \"subscribed\"}', now()) RETURNING id",
                (space["id"],)).fetchone()
            delivery = conn.execute(
                "INSERT INTO deliveries (space_id, event_id, destination_id, event, status, created_at)"
                " VALUES (%s, %s, %s, 'subscribed', 'delivered', now()) RETURNING id",
                (space["id"], int(inbox_id), destination["id"])).fetchone()
    ws = open_socket(live_server, space["slug"], alice)
    try:
        receive_until(ws, 'id="feed-rows"')
        redis.publish(f"xt:space:{space['id']}:feed", json.dumps({
            "type": "delivery", "inbox_id": inbox_id, "delivery_id": str(delivery["id"]),
            "destination_id": str(destination["id"]), "event": "subscribed", "status": "delivered"}))
        frame = receive_until(ws, f'id="badges-{inbox_id}"')
        assert 'data-signal="delivery"' in frame and 'data-status="delivered"' in frame and "Hook" in frame
    finally:
        ws.close()
