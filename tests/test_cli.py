"""The operator CLI, run exactly as scripts run it: `flask --app wsgi … --json`."""
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx

from tests.conftest import ROOT, TEST_SECRET_KEY

FLASK = str(Path(sys.executable).parent / "flask")


def cli(servers, *args, stdin: str | None = None, env: dict | None = None):
    environment = {**os.environ, "DATABASE_URL": servers.database_url, "REDIS_URL": servers.redis_url,
                   "SECRET_KEY": TEST_SECRET_KEY, **(env or {})}
    return subprocess.run([FLASK, "--app", "wsgi", *args], cwd=ROOT, env=environment, input=stdin,
                          capture_output=True, text=True, timeout=60)


def test_space_create_prints_the_slug_and_both_secrets_once(servers, db):
    done = cli(servers, "space", "create", "Pocket Funnel", "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert set(out) == {"space", "bearer", "ingest_token"}
    assert out["space"] == "pocket-funnel"
    assert out["bearer"].startswith("xtb_") and out["ingest_token"].startswith("xti_")
    again = json.loads(cli(servers, "space", "create", "Pocket Funnel", "--json").stdout)
    assert again["space"] == "pocket-funnel-2"
    listed = json.loads(cli(servers, "space", "list", "--json").stdout)
    assert [s["space"] for s in listed["spaces"]] == ["pocket-funnel", "pocket-funnel-2"]


def test_the_created_secrets_work_against_a_live_server(servers, live_server):
    out = json.loads(cli(servers, "space", "create", "Live", "--json").stdout)
    r = httpx.post(live_server.url + "/events", json={"event": "contact", "uid": "cli"},
                   headers={"Authorization": f"Bearer {out['bearer']}"})
    assert r.json()["status"] == "queued"
    r = httpx.get(live_server.url + f"/e?token={out['ingest_token']}&event=subscribed&uid=cli")
    assert r.json()["status"] == "queued"


def test_keys_rotate_prints_new_secrets_in_the_same_shape(servers):
    created = json.loads(cli(servers, "space", "create", "Rot", "--json").stdout)
    done = cli(servers, "keys", "rotate", "rot", "--json")
    assert done.returncode == 0, done.stderr
    rotated = json.loads(done.stdout)
    assert set(rotated) == {"space", "bearer", "ingest_token"} and rotated["space"] == "rot"
    assert rotated["bearer"] != created["bearer"] and rotated["ingest_token"] != created["ingest_token"]
    only = json.loads(cli(servers, "keys", "rotate", "rot", "--only", "ingest", "--json").stdout)
    assert set(only) == {"space", "ingest_token"}
    listed = json.loads(cli(servers, "keys", "list", "rot", "--json").stdout)
    assert sorted(k["kind"] for k in listed["keys"]) == ["bearer", "bearer", "ingest", "ingest", "ingest"]
    assert all("…" in k["hint"] for k in listed["keys"])
    assert created["bearer"] not in json.dumps(listed)


def test_keys_rotate_for_an_unknown_space_fails_clearly(servers):
    done = cli(servers, "keys", "rotate", "nope", "--json")
    assert done.returncode == 1
    assert json.loads(done.stdout) == {"ok": False, "error": done.stdout and json.loads(done.stdout)["error"]}
    assert "nope" in json.loads(done.stdout)["error"]


def test_user_create_reads_the_password_from_stdin_and_hashes_it(servers, db):
    cli(servers, "space", "create", "Team", "--json")
    done = cli(servers, "user", "create", "Ops@Example.com", "--space", "team", "--role", "admin", "--json",
               stdin="correct horse battery\n")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"user": "ops@example.com", "space": "team", "role": "admin", "created": True}
    row = db.execute("SELECT u.email, u.password_hash, m.role FROM users u JOIN memberships m ON m.user_id = u.id").fetchone()
    assert row["email"] == "ops@example.com" and row["role"] == "admin"
    assert row["password_hash"].startswith("$argon2id$") and "correct horse" not in row["password_hash"]


def test_user_create_refuses_a_short_password(servers, db):
    cli(servers, "space", "create", "Team", "--json")
    done = cli(servers, "user", "create", "a@b.co", "--space", "team", "--json", stdin="short\n")
    assert done.returncode == 1 and "at least" in json.loads(done.stdout)["error"]
    assert db.execute("SELECT count(*) AS n FROM users").fetchone()["n"] == 0


def test_db_migrate_reports_an_up_to_date_schema(servers):
    done = cli(servers, "db", "migrate", "--json")
    assert done.returncode == 0 and json.loads(done.stdout) == {"ok": True, "applied": []}


def test_bootstrap_creates_the_demo_space_and_admin_once(servers, db):
    first = json.loads(cli(servers, "bootstrap", "--json").stdout)
    assert first["created"] is True and first["space"] == "demo" and first["email"] == "admin@xtracker.local"
    assert first["login_url"].endswith("/login") and first["bearer"].startswith("xtb_")
    assert first["demo_link"].endswith("/demo")
    link = db.execute("SELECT slug, kind, mode, archived_at FROM links").fetchone()
    assert link == {"slug": "demo", "kind": "web", "mode": "redirect", "archived_at": None}
    assert json.loads(cli(servers, "bootstrap", "--json").stdout) == {"created": False}
    assert db.execute("SELECT count(*) AS n FROM spaces").fetchone()["n"] == 1
