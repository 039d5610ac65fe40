"""The live feed resumes by itself after Redis goes away and comes back (gunicorn, the Procfile's web line)."""
import time

import websocket

from tests.dashboard.test_live import alice, open_socket, post_event  # noqa: F401  (alice is a fixture)

RESUME_WITHIN_SECONDS = 20


def test_an_open_socket_gets_new_events_again_after_a_redis_outage(live_server, alice, space, servers):  # noqa: F811
    ws = open_socket(live_server, space["slug"], alice)
    try:
        ws.settimeout(2)
        ws.recv()  # the initial rows
        servers.stop_redis()
        try:
            # Ingest keeps answering while Redis is away (Postgres is the truth).
            assert post_event(live_server, space, event="contact", uid="during-outage")
            time.sleep(3)
        finally:
            servers.start_redis()
        returned = time.monotonic()
        sent: list[str] = []
        frames = ""
        while time.monotonic() - returned < RESUME_WITHIN_SECONDS:
            uid = f"after-outage-{len(sent)}"
            post_event(live_server, space, event="contact", uid=uid)
            sent.append(uid)
            deadline = time.monotonic() + 0.5
            while time.monotonic() < deadline:
                ws.settimeout(max(deadline - time.monotonic(), 0.05))
                try:
                    frames += ws.recv()
                except websocket.WebSocketTimeoutException:
                    break
            if any(uid in frames for uid in sent):
                break
        assert any(uid in frames for uid in sent), \
            f"no live frame within {RESUME_WITHIN_SECONDS} s of Redis returning"
    finally:
        ws.close()
