"""One journey as JSON (`journey show`) and its Telegram part (the journey page's channel section)."""
from datetime import datetime, timezone

from app import db
from app.lib import tokens
from app.conversion import journeys
from app.telegram import store

# An event's status is the worst of its deliveries': one still owed decides it.
_STATUS_ORDER = ("dead", "failed", "pending", "delivered")


def _iso(value):
    return value.isoformat() if value is not None else None


def event_status(deliveries: list[dict]) -> str:
    """`none` without deliveries, else the least advanced of dead, failed, pending, delivered."""
    if not deliveries:
        return "none"
    statuses = {d["status"] for d in deliveries}
    return next((s for s in _STATUS_ORDER if s in statuses), sorted(statuses)[0])


def telegram_part(conn, space_id: int, uid: str) -> dict:
    """The uid's join requests, joins and leaves, and drip messages (times as datetimes)."""
    return {"join_requests": store.list_join_requests_of_uid(conn, space_id, uid),
            "membership": store.list_member_events_of_uid(conn, space_id, uid),
            "messages": store.list_messages_of_uid(conn, space_id, uid)}


def journey_json(space_id: int, uid: str) -> dict | None:
    """The journey of `uid`: click, binding, events (status, time, deliveries) and Telegram part; None if unknown.

    Times are ISO 8601 in UTC; `occurred_at` is the event's own time, `received_at` when it was recorded.
    """
    if not tokens.UID_RE.fullmatch(uid):
        return None
    with db.connection() as conn:
        journey = journeys.find_journey(conn, space_id, uid)
        if journey is None:
            return None
        events = journeys.list_journey_events(conn, space_id, uid)
        deliveries = journeys.list_event_deliveries(conn, space_id, [e.id for e in events])
        telegram = telegram_part(conn, space_id, uid)
    by_event: dict[int, list[dict]] = {}
    for d in deliveries:
        by_event.setdefault(d["event_id"], []).append({
            "destination": d["destination"], "kind": d["kind"], "status": d["status"], "attempts": d["attempts"],
            "last_status_code": d["last_status_code"], "last_error": d["last_error"],
            "delivered_at": _iso(d["delivered_at"])})
    return {
        "uid": uid,
        "click": None if journey["click_at"] is None else {
            "at": _iso(journey["click_at"]), "source": journey["click_source"], "link_slug": journey["link_slug"],
            "country": journey["country"], "fbclid": journey["fbclid"], "campaign_name": journey["campaign_name"],
            "utm_source": journey["utm_source"], "utm_campaign": journey["utm_campaign"]},
        "binding": None if journey["tg_id"] is None else {"tg_id": journey["tg_id"], "bound_at": _iso(journey["bound_at"])},
        "events": [{
            "inbox_id": str(e.id), "event": e.event, "status": event_status(by_event.get(e.id, [])),
            "occurred_at": datetime.fromtimestamp(e.occurred_at_ms / 1000, timezone.utc).isoformat(),
            "received_at": _iso(e.received_at), "source": e.source, "eid": e.eid,
            "value": None if e.value is None else str(e.value), "currency": e.currency,
            "flags": list(e.flags), "test": e.test, "deliveries": by_event.get(e.id, [])} for e in events],
        "telegram": {
            "join_requests": [{"chat_id": r["chat_id"], "channel": r["title"], "tg_id": r["user_id"],
                               "requested_at": _iso(r["requested_at"]), "decision": r["decision"],
                               "decided_at": _iso(r["decided_at"]), "error": r["error"]}
                              for r in telegram["join_requests"]],
            "membership": [{"chat_id": m["chat_id"], "channel": m["title"], "tg_id": m["user_id"], "kind": m["kind"],
                            "at": _iso(m["at"])} for m in telegram["membership"]],
            "messages": [{"chat_id": m["chat_id"], "channel": m["title"], "step": m["position"],
                          "due_at": _iso(m["due_at"]), "state": m["state"], "sent_at": _iso(m["sent_at"]),
                          "error": m["error"]} for m in telegram["messages"]],
        },
    }
