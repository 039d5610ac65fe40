"""`flask --app wsgi link …` and `domain …`: what scripts get back, errors, and space isolation."""
import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT, TEST_SECRET_KEY
from tests.landing.landing_helpers import make_link

FLASK = os.path.join(os.path.dirname(sys.executable), "flask")


def flask_cli(servers, *args):
    env = {**os.environ, "DATABASE_URL": servers.database_url, "REDIS_URL": servers.redis_url,
           "SECRET_KEY": TEST_SECRET_KEY, "PUBLIC_URL": "https://t.xtracker.example"}
    return subprocess.run([FLASK, "--app", "wsgi", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)


def test_link_create_and_list_print_json_with_the_landing_url(servers, space):
    done = flask_cli(servers, "link", "create", space["slug"], "--slug", "promo", "--kind", "bot",
                     "--target", "@xt_funnel_bot", "--default", "utm_source=facebook", "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["landing_url"] == "https://t.xtracker.example/promo"
    assert (out["slug"], out["kind"], out["target"], out["mode"], out["emit_contact"]) == (
        "promo", "bot", "xt_funnel_bot", "page", True)
    assert out["campaign_defaults"] == {"utm_source": "facebook"}
    listed = json.loads(flask_cli(servers, "link", "list", space["slug"], "--json").stdout)
    assert [link["landing_url"] for link in listed["links"]] == ["https://t.xtracker.example/promo"]
    again = flask_cli(servers, "link", "create", space["slug"], "--slug", "events", "--kind", "bot",
                      "--target", "xt_funnel_bot", "--json")
    assert again.returncode == 1 and "taken by the app" in json.loads(again.stdout)["error"]


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def run_json(runner, *args):
    result = runner.invoke(args=[*args, "--json"])
    return result.exit_code, json.loads(result.output)


def test_link_list_shows_only_the_named_spaces_links(app, runner, space, other_space):
    make_link(app, space, "alice")
    make_link(app, other_space, "bob")
    code, out = run_json(runner, "link", "list", other_space["slug"])
    assert code == 0 and [link["slug"] for link in out["links"]] == ["bob"]


def test_link_create_refuses_a_slug_another_space_uses(app, runner, space, other_space):
    make_link(app, space, "promo")
    code, out = run_json(runner, "link", "create", other_space["slug"], "--slug", "promo", "--kind", "bot",
                         "--target", "xt_funnel_bot")
    assert code == 1 and "already used" in out["error"]


def test_link_create_explains_a_bad_target_or_space(runner, space):
    code, out = run_json(runner, "link", "create", space["slug"], "--slug", "p", "--kind", "web", "--target", "ftp://x")
    assert code == 1 and "http(s)" in out["error"]
    code, out = run_json(runner, "link", "create", "nope", "--slug", "p", "--kind", "bot", "--target", "xt_funnel_bot")
    assert code == 1 and "no space" in out["error"]
