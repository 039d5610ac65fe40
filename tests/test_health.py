"""/healthz and /readyz."""


def test_healthz_answers_while_the_process_is_up(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json["ok"] is True


def test_healthz_counts_the_rows_each_writer_set_aside(client):
    from app.lib import group_commit
    before = client.get("/healthz").json["set_aside"].get("health-probe-writer", 0)
    group_commit.set_aside("health-probe-writer", ValueError("refused"), "a test row")
    after = client.get("/healthz").json
    assert after["set_aside"]["health-probe-writer"] == before + 1 and isinstance(after["pid"], int)


def test_readyz_checks_postgres_and_redis(client):
    r = client.get("/readyz")
    assert r.status_code == 200 and r.json == {"ok": True, "checks": {"postgres": True, "redis": True}}


def test_unknown_paths_answer_json_404(client):
    r = client.get("/no/such/path")
    assert r.status_code == 404 and r.json["ok"] is False and r.json["status"] == "not_found"
