"""The address guard sees through IPv6 forms that embed IPv4; macros never choose where the worker connects."""
import json

import pytest

from app import services
from app.delivery.destinations import DestinationError
from app.lib import ssrf
from tests.conftest import free_port
from tests.delivery.conftest import attempts, deliveries, make_destination, run_worker, send_event
from tests.setup.conftest import html, login  # noqa: F401


@pytest.mark.parametrize("address, public", [
    ("::7f00:1", False),                              # IPv4-compatible 127.0.0.1
    ("::a00:1", False),                               # IPv4-compatible 10.0.0.1
    ("::808:808", True),                              # IPv4-compatible 8.8.8.8
    ("::ffff:127.0.0.1", False), ("::ffff:a9fe:a9fe", False), ("::ffff:8.8.8.8", True),  # IPv4-mapped
    ("::ffff:0:7f00:1", False), ("::ffff:0:808:808", True),  # IPv4-translated (SIIT)
    ("2002:7f00:1::", False), ("2002:a9fe:a9fe::1", False), ("2002:c0a8:101::", False),
    ("2002:808:808::1", True),                        # 6to4
    ("2001:0:4136:e378:8000:63bf:80ff:fffe", False),  # Teredo, client 127.0.0.1
    ("2001:0:7f00:1:8000:63bf:f7f7:f7f7", False),     # Teredo, server 127.0.0.1
    ("2001:0:808:808:8000:63bf:f7f7:f7f7", True),     # Teredo, server and client 8.8.8.8
    ("64:ff9b::7f00:1", False), ("64:ff9b::a9fe:a9fe", False), ("64:ff9b::808:808", True),  # NAT64
    ("64:ff9b:1:7f00:0:100::", False), ("64:ff9b:1::7f00:1", False),  # local-use NAT64 (/48 and /96 layouts)
    ("2606:4700::5efe:7f00:1", False), ("2606:4700::200:5efe:a00:1", False),  # ISATAP
    ("2606:4700::5efe:808:808", True),
    ("::", False), ("::1", False), ("fe80::1%eth0", False), ("2606:4700:4700::1111", True),
])
def test_an_ipv6_address_is_judged_by_the_ipv4_address_it_embeds(address, public):
    assert ssrf.is_public_address(address) is public


@pytest.mark.parametrize("host", ["[::7f00:1]", "[::ffff:127.0.0.1]", "[2002:7f00:1::]", "[64:ff9b::7f00:1]"])
def test_the_worker_refuses_a_destination_at_an_embedded_loopback_address(app, client, space, db, host):
    app.config["ALLOW_PRIVATE_DESTINATIONS"] = False
    make_destination(app, space, "webhook", url=f"http://{host}:{free_port()}/hook")
    send_event(client, space, event="contact", uid="abc")
    run_worker(app)
    (row,) = deliveries(db)
    assert row["status"] == "dead" and "destination address rule" in row["last_error"]
    assert attempts(db, row["id"])[0]["status_code"] is None


def test_saving_refuses_an_embedded_loopback_literal(app, space, db):
    app.config["ALLOW_PRIVATE_DESTINATIONS"] = False
    from app.delivery import configure
    with app.app_context(), pytest.raises(DestinationError, match="destination address rule"):
        configure.create_destination(space["id"], "webhook", {"url": "http://[::7f00:1]/hook"}, check_host=True)
    assert db.execute("SELECT count(*) AS n FROM destinations").fetchone()["n"] == 0


@pytest.mark.parametrize("template, part", [
    ("http://{uid}.partner.example/pb", "host"),
    ("https://partner.example{uid}/pb", "host"),
    ("http://partner.example:{tg_id}/pb", "port"),
    ("http://{uid}@partner.example/pb", "user info"),
    ("http://user:{eid}@partner.example/pb", "user info"),
    ("https://partner.example/pb#{uid}", "fragment"),
    ("http://{country}/pb", "host"),
])
def test_a_macro_outside_the_path_and_query_is_refused_on_save(app, space, db, template, part):
    with pytest.raises(DestinationError, match=f"only in the path and the query, not in the {part}"):
        make_destination(app, space, "postback", url_template=template)
    code = app.test_cli_runner().invoke(args=["destination", "create", space["slug"], "--kind", "postback",
                                              "--url-template", template, "--json"])
    assert code.exit_code != 0
    assert "only in the path and the query" in json.loads(code.output)["error"]
    assert db.execute("SELECT count(*) AS n FROM destinations").fetchone()["n"] == 0


def test_macros_in_the_path_and_query_are_fine(app, space):
    row, _ = make_destination(app, space, "postback", url_template="https://partner.example/pb/{uid}?v={value}&e={eid}")
    assert row.config["url_template"].endswith("{eid}")


def test_the_screen_refuses_a_host_macro_beside_the_field(app, login, space, db):  # noqa: F811
    client = login("admin")
    page = html(client.get(f"/spaces/{space['slug']}/destinations/new?kind=postback"))
    token = page.select_one("input[name=csrf_token]")["value"]
    response = client.post(f"/spaces/{space['slug']}/destinations/new?kind=postback",
                           data={"csrf_token": token, "url_template": "http://{uid}.evil.example/pb", "method": "GET",
                                 "map_deposit": "deposit"})
    assert response.status_code == 400
    assert "not in the host" in html(response).select_one("#e-url_template").get_text()
    assert db.execute("SELECT count(*) AS n FROM destinations").fetchone()["n"] == 0


def test_a_stored_template_with_a_host_macro_is_never_sent(app, client, space, db, httpserver):
    row, _ = make_destination(app, space, "postback", url_template=httpserver.url_for("/pb") + "?u={uid}")
    evil = httpserver.url_for("/pb").replace("localhost", "{uid}")
    db.execute("UPDATE destinations SET config = jsonb_set(config, '{url_template}', to_jsonb(%s::text))"
               " WHERE id = %s", (evil, row.id))
    send_event(client, space, event="contact", uid="localhost")
    run_worker(app)
    (delivery,) = deliveries(db)
    assert delivery["status"] == "dead" and "macro in the host" in delivery["last_error"]
    assert httpserver.log == []


def test_a_test_send_error_names_the_rule_not_the_resolved_addresses(app, login, space, httpserver):  # noqa: F811
    from tests.setup.test_destinations import post
    destination, _ = make_destination(app, space, "webhook", url=httpserver.url_for("/hook"))
    app.config["ALLOW_PRIVATE_DESTINATIONS"] = False
    services.of(app).drop_delivery_http()
    response = post(login("admin"), space, f"{destination.id}/test", {"event": "contact"})
    error = html(response).select_one("#test-network-error").get_text()
    assert "destination address rule" in error and "localhost" in error
    assert "127.0.0.1" not in error and "::1" not in error
    assert httpserver.log == []
