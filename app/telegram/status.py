"""What the Telegram screen and `telegram status` show: bot and webhook health, channels, pools, drip, link figures."""
from datetime import timedelta

from flask import current_app

from app import db
from app.lib import clock
from app.lib.secretbox import SealError
from app.telegram import bots, store
from app.telegram.api import BotApiError

LINK_WINDOW_DAYS = 30


def _iso(value):
    return value.isoformat() if value is not None else None


def status(space_id: int, *, ask_telegram: bool = True) -> dict:
    """The space's Telegram state as JSON-ready dicts (times ISO 8601; `ask_telegram` adds getWebhookInfo).

    Shape: {"bot": {…} | None, "queue": {pending, failed, oldest_pending}, "channels": [{…, "pool": {…},
    "drip": {…}}], "links": [{chat_id, link_slug, joins, leaves, net, left_within}], "left_within_days": N}.
    """
    app = current_app._get_current_object()
    days = app.config["TELEGRAM_LEFT_WITHIN_DAYS"]
    now = clock.now()
    with db.connection() as conn:
        bot = store.find_bot(conn, space_id)
        channels = store.list_channels(conn, space_id)
        pools = {c["chat_id"]: store.count_pool(conn, space_id, c["chat_id"]) for c in channels}
        steps = {c["chat_id"]: len(store.list_drip_steps(conn, space_id, c["chat_id"])) for c in channels}
        drip = store.drip_counts(conn, space_id)
        queue = store.update_queue_health(conn, space_id)
        links = store.link_membership(conn, space_id, now - timedelta(days=LINK_WINDOW_DAYS), days)
    bot_json = None
    if bot is not None:
        bot_json = {"bot": bot["username"], "bot_id": bot["bot_id"], "token_hint": bot["token_hint"],
                    "webhook_url": bot["webhook_url"], "webhook_set_at": _iso(bot["webhook_set_at"]),
                    "webhook_error": bot["webhook_error"], "last_update_at": _iso(queue["last_update_at"]),
                    "send_paused_until": _iso(bot["send_paused_until"]), "telegram_webhook": None}
        if ask_telegram:
            try:
                info = bots.api_for(app, bot).get_webhook_info()
                bot_json["telegram_webhook"] = {
                    "url_matches": info.get("url") == bot["webhook_url"],
                    "pending_update_count": info.get("pending_update_count"),
                    "last_error_message": info.get("last_error_message"),
                    "last_error_date": info.get("last_error_date")}
            except (BotApiError, SealError) as exc:
                bot_json["telegram_webhook"] = {"error": str(exc)}
    size = app.config["TELEGRAM_POOL_SIZE"]
    return {
        "bot": bot_json,
        "queue": {"pending": queue["pending"], "failed": queue["failed"], "oldest_pending": _iso(queue["oldest_pending"])},
        "channels": [{
            "chat_id": c["chat_id"], "title": c["title"], "username": c["username"], "type": c["chat_type"],
            "connected": c["connected"], "status_note": c["status_note"], "status_changed_at": _iso(c["status_changed_at"]),
            "auto_approve": c["auto_approve"], "member_count": c["member_count"],
            "member_count_at": _iso(c["member_count_at"]),
            "pool": {**pools[c["chat_id"]], "target": size, "exhausted_count": c["exhausted_count"],
                     "last_exhausted_at": _iso(c["last_exhausted_at"]), "paused_until": _iso(c["pool_paused_until"]),
                     "error": c["pool_error"], "checked_at": _iso(c["pool_checked_at"])},
            "drip": {"steps": steps[c["chat_id"]], **drip.get(c["chat_id"], {"due": 0, "sent": 0, "failed": 0,
                                                                               "stopped": 0})},
        } for c in channels],
        "links": [{"chat_id": r["chat_id"], "channel": r["title"], "link_slug": r["link_slug"],
                   "link_name": r["link_name"], "joins": int(r["joins"]), "leaves": int(r["leaves"]),
                   "net": int(r["joins"]) - int(r["leaves"]), "left_within": int(r["left_within"])} for r in links],
        "left_within_days": days,
        "links_since_days": LINK_WINDOW_DAYS,
    }
