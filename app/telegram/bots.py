"""Connecting a space's bot and its channels, and reaching the Bot API as that bot.

The bot token is sealed with app/lib/secretbox.py (context: space and bot id) and never shown
again; the webhook's secret_token is random per connect and stored as a SHA-256 digest.
"""
import re
import secrets
from dataclasses import dataclass

import httpx
from flask import Flask, current_app

from app import db, services
from app.lib import clock, secretbox, tokens
from app.telegram import store
from app.telegram.api import BotApi, BotApiError

TOKEN_RE = re.compile(r"[0-9]{3,20}:[A-Za-z0-9_-]{30,100}")
CHAT_REF_RE = re.compile(r"-?[0-9]{5,20}|@?[A-Za-z][A-Za-z0-9_]{3,31}")


class TelegramError(ValueError):
    """A connect or channel step failed; the message says what to fix (shown on screen and CLI)."""


def build_http_client(config: dict) -> httpx.Client:
    """A pooled client for the Bot API; one per process."""
    timeout = config["TELEGRAM_TIMEOUT"]
    return httpx.Client(timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)), trust_env=False,
                        follow_redirects=False, limits=httpx.Limits(max_connections=64, max_keepalive_connections=32))


def http_client(app: Flask) -> httpx.Client:
    """The process's pooled client for the Bot API."""
    return services.of(app).telegram_http


def _context(space_id: int, bot_id: int) -> str:
    return f"telegram-bot:{space_id}:{bot_id}"


def _api(app: Flask, token: str) -> BotApi:
    return BotApi(app.config["TELEGRAM_API_BASE_URL"].rstrip("/"), token, http_client(app))


def api_for(app: Flask, bot: dict) -> BotApi:
    """The Bot API as the space's bot (its token opened from the sealed copy); SealError when it no longer opens."""
    key = secretbox.derive_key(app.config["SECRET_KEY"])
    token = secretbox.open_sealed(key, bot["token_sealed"], _context(bot["space_id"], bot["bot_id"]))
    return _api(app, token)


def webhook_url(app: Flask, hook_id: str) -> str:
    """Where Telegram posts the bot's updates."""
    return f"{app.config['PUBLIC_URL']}/telegram/webhook/{hook_id}"


@dataclass
class Connected:
    """The outcome of `connect`: the stored bot and whether setWebhook succeeded."""
    bot: dict
    webhook_error: str | None


def connect(space_id: int, token: str) -> Connected:
    """Check the token with getMe, store the bot sealed, and register the webhook.

    1. The token's shape, then getMe (401: Telegram refused it).
    2. Store it sealed with a new hook id and secret_token (replacing the space's previous bot).
    3. setWebhook with the secret_token and allowed_updates; its error (e.g. Telegram requires
       an HTTPS PUBLIC_URL) is stored and returned, the bot stays connected so it can be retried.
    Raises TelegramError for a bad token or a bot connected to another space.
    """
    app = current_app._get_current_object()
    token = token.strip()
    if not TOKEN_RE.fullmatch(token):
        raise TelegramError("that is not a bot token: expect 123456789:AA… as @BotFather gives it")
    api = _api(app, token)
    try:
        me = api.get_me()
    except BotApiError as exc:
        if exc.code in (401, 404):
            raise TelegramError("Telegram refused this bot token (401 Unauthorized): copy it again from @BotFather") from None
        raise TelegramError(f"could not check the token with Telegram: {exc}") from None
    if not me.get("is_bot", True) or not me.get("username"):
        raise TelegramError("this token does not belong to a bot")
    hook_id = secrets.token_urlsafe(18)
    secret_token = secrets.token_urlsafe(32)
    key = secretbox.derive_key(app.config["SECRET_KEY"])
    now = clock.now()
    with db.transaction() as conn:
        previous = store.find_bot(conn, space_id)
        if previous is not None and previous["bot_id"] != int(me["id"]):
            # The new bot's rights in the channels are unknown: each must be added again.
            store.disconnect_channels(conn, space_id, f"the space's bot was replaced by @{me['username']}:"
                                                      " add the channel again", now)
        bot = store.save_bot(conn, space_id, bot_id=int(me["id"]), username=me["username"],
                             token_sealed=secretbox.seal(key, token, _context(space_id, int(me["id"]))),
                             token_hint=f"…{token[-4:]}", hook_id=hook_id,
                             secret_token_hash=tokens.digest(secret_token), webhook_url=webhook_url(app, hook_id),
                             now=now)
    error = None
    try:
        api.set_webhook(bot["webhook_url"], secret_token)
    except BotApiError as exc:
        error = f"setWebhook failed: {exc.description}"
    with db.transaction() as conn:
        store.set_webhook_result(conn, space_id, error=error, now=clock.now())
        bot = store.find_bot(conn, space_id)
    return Connected(bot, error)


@dataclass
class Disconnected:
    """The outcome of `disconnect`: the bot that was forgotten, what was held back, and deleteWebhook's error."""
    username: str
    bot_id: int
    messages_stopped: int
    requests_left_for_a_human: int
    webhook_error: str | None


def disconnect(space_id: int) -> Disconnected:
    """Disconnect the space's bot: deleteWebhook, then forget its token; the funnel's history stays.

    1. deleteWebhook as the bot (a failure is reported, not fatal: our webhook URL stops
       answering anything but 401 once the bot is forgotten).
    2. In one transaction: delete the bot row (sealed token, hook id, secret digest), mark its
       channels disconnected, stop unsent drip messages and leave due approvals for a human.
    Join requests, joins and leaves, sent messages, invite links and stats are kept.
    Raises TelegramError when the space has no bot.
    """
    app = current_app._get_current_object()
    with db.connection() as conn:
        bot = store.find_bot(conn, space_id)
    if bot is None:
        raise TelegramError("this space has no bot connected")
    error = None
    try:
        api_for(app, bot).delete_webhook()
    except BotApiError as exc:
        error = f"deleteWebhook failed: {exc.description}"
    except secretbox.SealError:
        error = "the stored token no longer opens with this SECRET_KEY, so deleteWebhook could not be called"
    reason = f"stopped: the bot @{bot['username']} was disconnected"
    with db.transaction() as conn:
        gone = store.delete_bot(conn, space_id)
        if gone is None:  # disconnected concurrently
            raise TelegramError("this space has no bot connected")
        store.disconnect_channels(conn, space_id, f"the bot @{bot['username']} was disconnected:"
                                                  " connect a bot and add the channel again", clock.now())
        held = store.hold_outbound(conn, space_id, reason)
    # This process forgets the hook at once; other web processes stop accepting it within LINK_CACHE_SECONDS.
    services.of(app).telegram_hooks.forget(bot["hook_id"])
    return Disconnected(bot["username"], bot["bot_id"], held["messages_stopped"], held["requests_left_for_a_human"],
                        error)


def parse_chat_ref(raw: str) -> int | str:
    """A chat id (-100…) or a public @username, as getChat takes it; TelegramError otherwise."""
    text = (raw or "").strip()
    for prefix in ("https://t.me/", "http://t.me/", "t.me/"):
        if text.lower().startswith(prefix):
            text = "@" + text[len(prefix):].strip("/")
    if not CHAT_REF_RE.fullmatch(text):
        raise TelegramError(f"{raw[:60]!r} is not a chat id such as -1001234567890 or a public @username")
    if text.lstrip("-").isdigit():
        return int(text)
    return "@" + text.lstrip("@")


def add_channel(space_id: int, raw_ref: str) -> dict:
    """Check the channel with getChat and getChatMember (the bot must be an admin allowed to invite users), then store it.

    TelegramError names what is missing: no bot, unknown chat, bot not an administrator, no
    invite right, or a chat that is not a channel or group.
    """
    app = current_app._get_current_object()
    ref = parse_chat_ref(raw_ref)
    with db.connection() as conn:
        bot = store.find_bot(conn, space_id)
    if bot is None:
        raise TelegramError("connect a bot first (telegram connect SPACE --bot-token-stdin)")
    api = api_for(app, bot)
    try:
        chat = api.get_chat(ref)
    except BotApiError as exc:
        if exc.code in (400, 403):
            raise TelegramError(f"Telegram does not show {raw_ref!r} to @{bot['username']}: add the bot to the channel"
                                f" as an administrator first ({exc.description})") from None
        raise TelegramError(f"getChat failed: {exc}") from None
    if chat.get("type") not in ("channel", "supergroup"):
        raise TelegramError(f"{raw_ref!r} is a {chat.get('type')} chat; connect a channel (or a supergroup)")
    try:
        member = api.get_chat_member(chat["id"], bot["bot_id"])
    except BotApiError as exc:
        raise TelegramError(f"getChatMember failed: {exc}") from None
    if member.get("status") not in ("administrator", "creator"):
        raise TelegramError(f"@{bot['username']} is not an administrator of {chat.get('title')!r}:"
                            " make it an admin with the right to invite users via link")
    if member.get("status") == "administrator" and not member.get("can_invite_users"):
        raise TelegramError(f"@{bot['username']} is an administrator of {chat.get('title')!r} but lacks the"
                            " \"Invite users via link\" right: turn it on in the channel's administrator settings")
    username = chat.get("username")
    fallback = f"https://t.me/{username}" if username else chat.get("invite_link")
    try:
        count = api.get_chat_member_count(chat["id"])
    except BotApiError:
        count = None  # the hourly stats job asks again
    with db.transaction() as conn:
        channel = store.save_channel(conn, space_id, chat_id=int(chat["id"]), title=str(chat.get("title") or chat["id"]),
                                     username=username, chat_type=chat["type"], fallback_link=fallback, now=clock.now())
        if count is not None:
            store.set_member_count(conn, space_id, channel["chat_id"], count, clock.now())
            channel = store.find_channel(conn, space_id, channel["chat_id"])
    return channel


def check_secret(stored_hash: bytes, sent: str | None) -> bool:
    """Constant-time check of X-Telegram-Bot-Api-Secret-Token against the stored digest."""
    import hmac
    return bool(sent) and hmac.compare_digest(tokens.digest(sent), bytes(stored_hash))
