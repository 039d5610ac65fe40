"""The report and cohort rollups kept by the triggers equal those rebuilt from the base tables, and test
events (when the events table has a `test` flag) never count."""
from tests.conftest import bearer
from tests.report.conftest import seed

TABLES = {
    "report_days": "day, link_slug, campaign_id, adset_id, ad_id, currency, clicks, contacts, subscribed,"
                   " registrations, first_deposits, deposits, revenue",
    "report_geo_days": "day, link_slug, country, currency, clicks, contacts, subscribed, registrations,"
                       " first_deposits, deposits, revenue",
    "report_hours": "day, hour, link_slug, currency, clicks, contacts, subscribed, registrations, first_deposits,"
                    " deposits, revenue",
    "report_cross_days": "day, link_slug, campaign_id, adset_id, ad_id, country, currency, clicks, contacts,"
                         " subscribed, registrations, first_deposits, deposits, revenue",
    "report_cross_hours": "day, hour, link_slug, campaign_id, adset_id, ad_id, country, currency, clicks, contacts,"
                          " subscribed, registrations, first_deposits, deposits, revenue",
    "cohort_days": "basis, cohort_day, age, link_slug, currency, deposits, revenue",
    "report_labels": "dimension, key, name",
}


def snapshot(db, space_id) -> dict:
    db.execute("SELECT fold_reports(%s)", (space_id,))
    out = {}
    for table, columns in TABLES.items():
        rows = db.execute(f"SELECT {columns} FROM {table} WHERE space_id = %s ORDER BY {columns}", (space_id,)).fetchall()
        # A row whose figures all cancelled out is the same as no row.
        out[table] = [r for r in rows if any(v not in (0, None) for k, v in r.items()
                                             if k in ("clicks", "contacts", "subscribed", "registrations",
                                                      "first_deposits", "deposits", "revenue")) or table == "report_labels"]
    return out


def test_incremental_report_rollups_equal_a_rebuild(app, client, space, clock, db):
    seed(app, client, space, clock)
    # A Telegram user's uid-less events back-filled by a bind, and a registration after a deposit.
    now_ms = int(clock.now.timestamp() * 1000)
    client.post("/events", json={"event": "deposit", "tg_id": 55, "value": "9", "eid": "tg", "occurred_at_ms": now_ms - 1000},
                headers=bearer(space))
    uid = client.post("/clicks", json={"link_slug": "spring", "country": "FR", "raw_query": "ad_id=a9"},
                      headers=bearer(space)).json["uid"]
    assert client.post("/bind", json={"uid": uid, "tg_id": 55}, headers=bearer(space)).json["ok"]
    client.post("/events", json={"event": "registration", "uid": uid, "eid": "late-reg"}, headers=bearer(space))
    incremental = snapshot(db, space["id"])
    assert incremental["report_days"] and incremental["report_cross_hours"] and incremental["cohort_days"]
    db.execute("SELECT report_rebuild(%s)", (space["id"],))
    assert snapshot(db, space["id"]) == incremental


def test_events_flagged_as_test_do_not_count(app, client, space, clock, db):
    has_flag = db.execute("SELECT 1 FROM information_schema.columns WHERE table_name = 'events' AND column_name = 'test'"
                          ).fetchone()
    if not has_flag:
        # Without the flag column the triggers read it through to_jsonb: a row type with `test` must still be skipped.
        assert db.execute("SELECT xt_is_test('{\"test\": true}'::jsonb) AS t").fetchone()["t"] is True
        assert db.execute("SELECT xt_is_test('{}'::jsonb) AS t").fetchone()["t"] is False
        return
    uid = client.post("/clicks", json={"country": "DE"}, headers=bearer(space)).json["uid"]
    client.post("/events", json={"event": "deposit", "uid": uid, "value": "5", "eid": "t", "test": True},
                headers=bearer(space))
    db.execute("SELECT fold_reports(%s)", (space["id"],))
    assert db.execute("SELECT coalesce(sum(deposits), 0) AS n FROM report_days WHERE space_id = %s",
                      (space["id"],)).fetchone()["n"] == 0
