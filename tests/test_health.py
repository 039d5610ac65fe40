"""/healthz and /readyz."""


def test_healthz_answers_while_the_process_is_up(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json["ok"] is True


def test_readyz_checks_postgres_and_redis(client):
    r = client.get("/readyz")
    assert r.status_code == 200 and r.json == {"ok": True, "checks": {"postgres": True, "redis": True}}


def test_unknown_paths_answer_json_404(client):
    r = client.get("/no/such/path")
    assert r.status_code == 404 and r.json["ok"] is False and r.json["status"] == "not_found"
