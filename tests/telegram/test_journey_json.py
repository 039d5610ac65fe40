"""`journey show --json` tells a test event from a real one, as the journey page's badge does."""
from tests.conftest import bearer
from tests.telegram.conftest import cli


def test_journey_show_says_which_events_are_test_events(app, client, space):
    for body in ({"event": "registration", "uid": "journeytest1", "eid": "real-1"},
                 {"event": "deposit", "uid": "journeytest1", "eid": "probe-1", "value": "1", "test": True}):
        r = client.post("/events", json=body, headers=bearer(space))
        assert r.status_code == 200, r.json
    code, journey = cli(app, "journey", "show", space["slug"], "--", "journeytest1")
    assert code == 0, journey
    assert {e["eid"]: e["test"] for e in journey["events"]} == {"real-1": False, "probe-1": True}
