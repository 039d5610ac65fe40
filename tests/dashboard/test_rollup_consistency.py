"""The rollups kept by the statement triggers equal the rollups rebuilt from the base tables.

A mixed history — landings on two links from two countries, POST /clicks, events before and
after their click, uid-less events back-filled by a bind, duplicates, deposits in two
currencies — is folded as it happened, then recomputed with deck_rebuild(); both must agree
row for row, so every incremental path (insert, upsert, back-fill) counts exactly once.
"""
from tests.conftest import bearer
from tests.landing.landing_helpers import BROWSER_UA, make_link

TABLES = {
    "rollup_quarters": "link_slug, slot, kind, n",
    "rollup_days": "link_slug, day, kind, currency, n, amount",
    "rollup_geo_days": "link_slug, day, kind, country, n",
}


def snapshot(db, space_id) -> dict:
    db.execute("SELECT fold_rollups(%s)", (space_id,))
    return {table: db.execute(f"SELECT {columns} FROM {table} WHERE space_id = %s AND n <> 0"
                              f" ORDER BY {columns}", (space_id,)).fetchall()
            for table, columns in TABLES.items()}


def test_incremental_rollups_equal_a_rebuild_from_the_base_tables(app, client, space, clock, db):
    make_link(app, space, "promo-a")
    make_link(app, space, "promo-b")
    for slug, country in (("promo-a", "DE"), ("promo-a", "BR"), ("promo-b", "DE")):
        app.test_client().get(f"/{slug}?fbclid=AbC", headers={"User-Agent": BROWSER_UA, "CF-IPCountry": country},
                              environ_base={"REMOTE_ADDR": "173.245.48.1"})
    landed = [r["uid"] for r in db.execute("SELECT uid FROM clicks ORDER BY created_at, uid").fetchall()]
    assert len(landed) == 3
    api_uid = client.post("/clicks", json={"link_slug": "promo-b", "country": "US"}, headers=bearer(space)).json["uid"]
    now_ms = int(clock.now.timestamp() * 1000)

    def send(body):
        r = client.post("/events", json=body, headers=bearer(space))
        assert r.status_code == 200, r.json

    # Uid-less events of a Telegram user, back-filled by the bind below.
    send({"event": "subscribed", "tg_id": 77, "occurred_at_ms": now_ms - 50_000})
    send({"event": "deposit", "tg_id": 77, "value": "12.5", "currency": "EUR", "eid": "tg-dep",
          "occurred_at_ms": now_ms - 40_000})
    for n, uid in enumerate(landed + [api_uid]):
        send({"event": "registration", "uid": uid, "eid": f"reg-{n}", "occurred_at_ms": now_ms - 30_000})
        send({"event": "deposit", "uid": uid, "value": "25.00", "eid": f"dep-{n}", "occurred_at_ms": now_ms - 20_000})
        send({"event": "deposit", "uid": uid, "value": "25.00", "eid": f"dep-{n}"})  # a duplicate
    send({"event": "deposit", "uid": landed[0], "value": "5", "currency": "EUR", "eid": "second"})
    # An event for a uid that has no click (a journey without a link).
    send({"event": "deposit", "uid": "no-click-uid", "value": "7", "eid": "orphan"})
    clock.advance(minutes=20)
    assert client.post("/bind", json={"uid": landed[1], "tg_id": 77}, headers=bearer(space)).json["ok"] is True
    send({"event": "contact", "tg_id": 77})

    incremental = snapshot(db, space["id"])
    assert incremental["rollup_days"], "the history produced no rollups"
    db.execute("SELECT deck_rebuild(%s)", (space["id"],))
    rebuilt = snapshot(db, space["id"])
    assert incremental == rebuilt


def test_rollup_trigger_helpers_keep_one_generic_plan(db):
    """Their array argument must not make plpgsql re-plan them on every batch (migration 0010)."""
    rows = db.execute("SELECT proname AS name, array_to_string(proconfig, ',') AS config FROM pg_proc"
                      " WHERE proname IN ('rollup_journey_changes', 'rollup_event_changes')").fetchall()
    assert {row["name"]: row["config"] for row in rows} == {
        "rollup_journey_changes": "plan_cache_mode=force_generic_plan",
        "rollup_event_changes": "plan_cache_mode=force_generic_plan"}
