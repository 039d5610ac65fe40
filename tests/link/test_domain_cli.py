"""Custom landing domains through the CLI, DNS checked with an injected resolver."""
import json

import pytest

from app import services
from tests.landing.landing_helpers import BROWSER_UA, clicks, make_link

TARGET = "t.xtracker.example"


class FakeResolver:
    """DNS answers given by the test: hostname → CNAME target."""

    def __init__(self):
        self.cnames: dict[str, str] = {}

    def cname(self, hostname):
        return self.cnames.get(hostname)

    def addresses(self, hostname):
        return frozenset()


@pytest.fixture
def dns_answers(app):
    resolver = FakeResolver()
    app.config["CNAME_TARGET"] = TARGET
    services.of(app).resolver = resolver
    return resolver


def run_json(app, *args):
    result = app.test_cli_runner().invoke(args=[*args, "--json"])
    return result.exit_code, json.loads(result.output)


def test_a_domain_answers_landings_once_its_cname_is_verified(app, client, space, db, dns_answers):
    make_link(app, space, "promo")
    code, out = run_json(app, "domain", "add", space["slug"], "Go.Alice.Example")
    assert code == 0
    assert (out["hostname"], out["verified"], out["cname_target"]) == ("go.alice.example", False, TARGET)
    code, out = run_json(app, "domain", "verify", space["slug"], "go.alice.example")
    assert code == 0 and out["verified"] is False and TARGET in out["check_note"]
    dns_answers.cnames["go.alice.example"] = TARGET
    code, out = run_json(app, "domain", "verify", space["slug"], "go.alice.example")
    assert code == 0 and out["verified"] is True
    r = client.get("/promo", headers={"Host": "go.alice.example", "User-Agent": BROWSER_UA})
    assert r.status_code == 200 and len(clicks(db)) == 1
    code, out = run_json(app, "link", "list", space["slug"])
    assert out["links"][0]["domain_urls"] == ["https://go.alice.example/promo"]


def test_the_first_space_to_verify_a_hostname_owns_it(app, space, other_space, dns_answers):
    dns_answers.cnames["go.shared.example"] = TARGET
    run_json(app, "domain", "add", other_space["slug"], "go.shared.example")
    run_json(app, "domain", "add", space["slug"], "go.shared.example")
    assert run_json(app, "domain", "verify", space["slug"], "go.shared.example")[1]["verified"] is True
    code, out = run_json(app, "domain", "verify", other_space["slug"], "go.shared.example")
    assert code == 1 and "another space" in out["error"]


def test_a_space_cannot_verify_list_or_remove_another_spaces_domain(app, space, other_space, dns_answers):
    dns_answers.cnames["go.alice.example"] = TARGET
    run_json(app, "domain", "add", space["slug"], "go.alice.example")
    code, out = run_json(app, "domain", "verify", other_space["slug"], "go.alice.example")
    assert code == 1 and "not a domain of" in out["error"]
    assert run_json(app, "domain", "list", other_space["slug"])[1]["domains"] == []
    code, out = run_json(app, "domain", "remove", other_space["slug"], "go.alice.example")
    assert code == 1
    assert [d["hostname"] for d in run_json(app, "domain", "list", space["slug"])[1]["domains"]] == ["go.alice.example"]


def test_a_failed_recheck_unverifies_and_removal_stops_the_landings(app, client, space, db, dns_answers):
    make_link(app, space, "promo")
    dns_answers.cnames["go.alice.example"] = TARGET
    run_json(app, "domain", "add", space["slug"], "go.alice.example")
    run_json(app, "domain", "verify", space["slug"], "go.alice.example")
    del dns_answers.cnames["go.alice.example"]
    assert run_json(app, "domain", "verify", space["slug"], "go.alice.example")[1]["verified"] is False
    r = client.get("/promo", headers={"Host": "go.alice.example", "User-Agent": BROWSER_UA})
    assert r.status_code == 404
    assert run_json(app, "domain", "remove", space["slug"], "go.alice.example")[1]["removed"] is True


def test_the_trackers_own_host_and_malformed_names_are_refused(app, space, dns_answers):
    code, out = run_json(app, "domain", "add", space["slug"], TARGET)
    assert code == 1 and "tracker's own host" in out["error"]
    code, out = run_json(app, "domain", "add", space["slug"], "https://go.alice.example/x")
    assert code == 1 and "not a hostname" in out["error"]
