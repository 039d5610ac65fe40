"""Outbound requests refused for private addresses (on the resolved address); credentials sealed at rest."""
import pytest

from app.lib import secretbox, ssrf
from tests.delivery.conftest import attempts, deliveries, make_destination, run_worker, send_event


@pytest.mark.parametrize("address, public", [
    ("93.184.216.34", True), ("2606:2800:220:1:248:1893:25c8:1946", True),
    ("127.0.0.1", False), ("::1", False), ("10.1.2.3", False), ("172.16.0.9", False), ("192.168.1.1", False),
    ("169.254.169.254", False), ("fd00:ec2::254", False), ("100.64.0.1", False), ("0.0.0.0", False),
    ("::ffff:127.0.0.1", False), ("fe80::1", False), ("224.0.0.1", False),
])
def test_it_tells_public_addresses_from_private_ones(address, public):
    assert ssrf.is_public_address(address) is public


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "169.254.169.254"])
def test_it_refuses_a_destination_that_resolves_to_a_private_address(app, client, space, db, httpserver, host):
    app.config["ALLOW_PRIVATE_DESTINATIONS"] = False
    make_destination(app, space, "webhook", url=httpserver.url_for("/hook").replace("localhost", host))
    httpserver.expect_request("/hook").respond_with_data("ok")
    send_event(client, space, event="contact", uid="abc")
    run_worker(app)

    assert httpserver.log == []
    (row,) = deliveries(db)
    assert row["status"] == "dead" and "refused" in row["last_error"]
    assert attempts(db, row["id"])[0]["status_code"] is None


def test_it_seals_secrets_bound_to_their_context():
    key = secretbox.derive_key("k" * 40)
    sealed = secretbox.seal(key, "whsec_abc", "destination:1:webhook")
    assert b"whsec_abc" not in sealed
    assert secretbox.open_sealed(key, sealed, "destination:1:webhook") == "whsec_abc"
    for other_key, context in ((secretbox.derive_key("j" * 40), "destination:1:webhook"),
                               (key, "destination:2:webhook")):
        with pytest.raises(secretbox.SealError):
            secretbox.open_sealed(other_key, sealed, context)


def test_it_stores_webhook_secrets_encrypted_and_shows_only_a_hint(app, space, db, httpserver):
    destination, secret = make_destination(app, space, "webhook", url=httpserver.url_for("/hook"))
    stored = db.execute("SELECT secret, secret_hint FROM destinations").fetchone()
    assert secret.encode() not in bytes(stored["secret"])
    assert stored["secret_hint"] == "…" + secret[-4:] and destination.secret_hint == stored["secret_hint"]
    listed = app.test_cli_runner().invoke(args=["destination", "list", space["slug"], "--json"]).output
    assert secret not in listed and secret[-4:] in listed
