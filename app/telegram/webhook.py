"""POST /telegram/webhook/<hook_id>: the Bot API delivers the space bot's updates here.

1. Find the bot by its hook id; check X-Telegram-Bot-Api-Secret-Token against the digest stored
   at setWebhook (unknown hook, missing or wrong token: 401, nothing recorded).
2. Parse the update (a JSON object with a whole update_id).
3. Store it in the durable queue (telegram_updates), committed with whatever other updates the
   process received at the same moment (app/telegram/inbox.py): a re-delivered update_id is a duplicate.
4. Answer 200 at once; a worker processes the queue (jobs/telegram.py).
"""
import json

from flask import Blueprint, current_app, jsonify, request

from app import db, services
from app.lib import clock
from app.conversion import wake
from app.telegram import bots, store
from app.telegram.inbox import BadUpdateBody, PendingUpdate

bp = Blueprint("telegram_webhook", __name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
UPDATE_KINDS = ("message", "edited_message", "channel_post", "edited_channel_post", "my_chat_member",
                "chat_member", "chat_join_request", "callback_query")
_NEGATIVE = object()


def _answer(status_code: int, status: str, error: str | None = None):
    body = {"ok": status_code < 300, "status": status}
    if error:
        body["error"] = error
    response = jsonify(body)
    response.status_code = status_code
    return response


def _bot(hook_id: str) -> dict | None:
    cache = services.of(current_app).telegram_hooks
    cached = cache.get(hook_id)
    if cached is not None:
        return None if cached is _NEGATIVE else cached
    with db.connection() as conn:
        bot = store.find_bot_by_hook(conn, hook_id)
    cache.put(hook_id, _NEGATIVE if bot is None else bot)
    return bot


def update_kind(update: dict) -> str:
    """The update's kind: the one field besides update_id (`other` when unknown)."""
    for kind in UPDATE_KINDS:
        if kind in update:
            return kind
    return "other"


@bp.post("/telegram/webhook/<hook_id>")
def receive_update(hook_id: str):
    """Queue one update of the space's bot (docs/telegram-channel-funnel.md)."""
    bot = _bot(hook_id) if len(hook_id) <= 64 else None
    if bot is None or not bots.check_secret(bot["secret_token_hash"], request.headers.get(SECRET_HEADER)):
        return _answer(401, "unauthorized", f"missing or wrong {SECRET_HEADER}")
    raw = request.get_data(cache=False)
    try:
        text = raw.decode("utf-8")
        update = json.loads(text)
    except ValueError:
        return _answer(400, "invalid_json", "the body is not JSON")
    update_id = update.get("update_id") if isinstance(update, dict) else None
    if not isinstance(update_id, int) or isinstance(update_id, bool) or not 0 <= update_id < 2**63:
        return _answer(400, "invalid_update", "an update is a JSON object with a whole update_id")
    queued = services.of(current_app).telegram_updates.submit(PendingUpdate(
        bot["space_id"], bot["bot_id"], update_id, update_kind(update), text, clock.now()))
    if isinstance(queued, BadUpdateBody):
        return _answer(400, "invalid_update", str(queued))
    if queued:
        wake.nudge(current_app._get_current_object(), wake.TELEGRAM)
    return _answer(200, "queued" if queued else "duplicate")
