"""Clicks lose their client IP and user agent after the retention period; the rest of the click stays."""
from tests.landing.landing_helpers import clicks, make_link, open_landing


def test_old_clicks_lose_address_and_agent_and_recent_ones_keep_them(app, client, space, db, clock):
    from app.link.retention import clear_old_click_addresses
    make_link(app, space, "promo")
    open_landing(client, "/promo?fbclid=old")
    clock.advance(days=89)
    open_landing(app.test_client(), "/promo?fbclid=new")
    clock.advance(days=2)
    with app.app_context():
        assert clear_old_click_addresses() == 1
        assert clear_old_click_addresses() == 0
    rows = {c["fbclid"]: c for c in clicks(db)}
    assert rows["old"]["client_ip"] is None and rows["old"]["user_agent"] is None and rows["old"]["uid"]
    assert rows["new"]["client_ip"] == "127.0.0.1" and rows["new"]["user_agent"]
