"""`flask deck fold` and `flask deck rebuild`."""
import json

from tests.dashboard.conftest import send_event


def test_it_folds_waiting_deltas_of_every_space(app, client, space, other_space, db):
    send_event(client, space, event="contact", uid="a1")
    send_event(client, other_space, event="contact", uid="b1")
    assert db.execute("SELECT count(*) AS n FROM rollup_deltas").fetchone()["n"] > 0
    result = app.test_cli_runner().invoke(args=["deck", "fold", "--json"])
    assert json.loads(result.output)["folded"] > 0
    assert db.execute("SELECT count(*) AS n FROM rollup_deltas").fetchone()["n"] == 0
    rows = db.execute("SELECT space_id, sum(n) AS n FROM rollup_days WHERE kind = 'event:contact' AND link_slug = '*'"
                      " GROUP BY space_id ORDER BY space_id").fetchall()
    assert [(r["space_id"], r["n"]) for r in rows] == [(space["id"], 1), (other_space["id"], 1)]


def test_it_rebuilds_one_space_and_names_an_unknown_one(app, client, space, db):
    send_event(client, space, event="deposit", uid="a1", value="3", currency="USD")
    runner = app.test_cli_runner()
    assert json.loads(runner.invoke(args=["deck", "rebuild", space["slug"], "--json"]).output)["ok"] is True
    total = db.execute("SELECT sum(amount) AS amount FROM rollup_days WHERE space_id = %s AND kind = 'revenue' AND link_slug = '*'",
                       (space["id"],)).fetchone()["amount"]
    assert total == 3
    missing = runner.invoke(args=["deck", "rebuild", "nope", "--json"])
    assert missing.exit_code == 1 and "no space" in json.loads(missing.output)["error"]
