"""Outbound work of the space bots: drip messages at Telegram's pace, then join-request approvals.

Pace (https://core.telegram.org/bots/faq#my-bot-is-hitting-limits-how-do-i-avoid-this): at most
one message per second to a chat and about 30 per second per bot. One worker at a time sends a
bot's messages (a lease on its telegram_bots row), and that worker paces them with a moving
window per bot and per chat (the `limits` library), so the pace holds however many workers run.
A 429 pauses the bot's sending for `retry_after` and puts the message back; a 403 (the user
blocked the bot, or it may not write first) stops that user's drip; other 4xx fail the message.
"""
import logging
import time
from datetime import datetime, timedelta

from flask import Flask
from limits import RateLimitItemPerSecond
from limits.strategies import MovingWindowRateLimiter

from app import db, services
from app.lib import clock
from app.lib.secretbox import SealError
from app.telegram import bots, store
from app.telegram.api import BotApi, BotApiError

log = logging.getLogger(__name__)

PER_BOT = RateLimitItemPerSecond(30)
PER_CHAT = RateLimitItemPerSecond(1)
SEND_LEASE = timedelta(seconds=120)
MESSAGE_MAX_ATTEMPTS = 5
APPROVAL_MAX_ATTEMPTS = 10
# Telegram lets the bot write to a join request's user_chat_id for 5 minutes; approval waits for
# the welcome at most this long, so the welcome is sent while the window is open.
WELCOME_WAIT = timedelta(seconds=240)


def _limiter(app: Flask) -> MovingWindowRateLimiter:
    return services.of(app).telegram_limiter


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(5 * 2 ** max(attempts - 1, 0), 900))


def _bot_api(app: Flask, space_id: int) -> tuple[dict | None, BotApi | None]:
    with db.connection() as conn:
        bot = store.find_bot(conn, space_id)
    if bot is None:
        return None, None
    try:
        return bot, bots.api_for(app, bot)
    except SealError:
        log.error("space %s: the bot token does not open with this SECRET_KEY; reconnect the bot", space_id)
        return bot, None


def send_due_messages(app: Flask, deadline: float) -> int:
    """Send due drip messages of every space whose bot is free; return how many were sent."""
    with db.connection() as conn:
        spaces = store.list_due_message_spaces(conn, clock.now())
    sent = 0
    for space_id in spaces:
        if time.monotonic() >= deadline:
            break
        sent += _send_for_space(app, space_id, deadline)
    return sent


def _send_for_space(app: Flask, space_id: int, deadline: float) -> int:
    now = clock.now()
    with db.transaction() as conn:
        if not store.lease_bot_sender(conn, space_id, now, now + SEND_LEASE):
            return 0
    paused_until = None
    sent = 0
    try:
        bot, api = _bot_api(app, space_id)
        if api is None:
            return 0
        with db.transaction() as conn:
            messages = store.claim_messages(conn, space_id, now, now + SEND_LEASE)
        limiter = _limiter(app)
        for index, message in enumerate(messages):
            if time.monotonic() >= deadline or paused_until is not None:
                _put_back(messages[index:], space_id, paused_until)
                break
            while not (limiter.test(PER_CHAT, str(bot["bot_id"]), str(message["user_chat_id"]))
                       and limiter.hit(PER_BOT, str(bot["bot_id"]))):
                time.sleep(0.02)
            limiter.hit(PER_CHAT, str(bot["bot_id"]), str(message["user_chat_id"]))
            paused_until = _send_one(api, space_id, message)
            sent += paused_until is None
    finally:
        with db.transaction() as conn:
            store.release_bot_sender(conn, space_id, paused_until)
    return sent


def _put_back(messages: list[dict], space_id: int, due_at: datetime | None) -> None:
    with db.transaction() as conn:
        for message in messages:
            store.finish_message(conn, space_id, message["id"], state="due", error=None, telegram_message_id=None,
                                 due_at=due_at, now=clock.now())


def _send_one(api: BotApi, space_id: int, message: dict) -> datetime | None:
    """Send one message and write its outcome; return the pause end after a 429, else None."""
    now = clock.now()
    try:
        result = api.send_message(message["user_chat_id"], message["text_html"], message["buttons"] or None)
    except BotApiError as exc:
        with db.transaction() as conn:
            if exc.code == 429:
                until = now + timedelta(seconds=exc.retry_after or 1)
                store.finish_message(conn, space_id, message["id"], state="due", error=f"429 {exc.description}",
                                     telegram_message_id=None, due_at=until, now=now)
                return until
            if exc.blocked:
                store.finish_message(conn, space_id, message["id"], state="stopped", error=f"403 {exc.description}",
                                     telegram_message_id=None, due_at=None, now=now)
                store.stop_messages_of_user(conn, space_id, message["user_id"], f"stopped: 403 {exc.description}")
            elif exc.retryable and message["attempts"] < MESSAGE_MAX_ATTEMPTS:
                store.finish_message(conn, space_id, message["id"], state="due", error=str(exc),
                                     telegram_message_id=None, due_at=now + _backoff(message["attempts"]), now=now)
            else:
                store.finish_message(conn, space_id, message["id"], state="failed", error=str(exc),
                                     telegram_message_id=None, due_at=None, now=now)
        return None
    with db.transaction() as conn:
        store.finish_message(conn, space_id, message["id"], state="sent", error=None,
                             telegram_message_id=(result or {}).get("message_id"), due_at=None, now=now)
    return None


def approve_due(app: Flask, deadline: float) -> int:
    """Approve join requests whose welcome went (or waited long enough); return how many were approved."""
    now = clock.now()
    with db.transaction() as conn:
        due = store.claim_approvals(conn, now, now + timedelta(seconds=60))
    approved = 0
    apis: dict[int, BotApi | None] = {}
    for request in due:
        space_id = request["space_id"]
        if space_id not in apis:
            apis[space_id] = _bot_api(app, space_id)[1]
        api = apis[space_id]
        now = clock.now()
        with db.connection() as conn:
            waiting = store.welcome_pending(conn, space_id, request["id"])
        if api is None or time.monotonic() >= deadline or (waiting and now - request["received_at"] < WELCOME_WAIT):
            with db.transaction() as conn:
                store.finish_approval(conn, space_id, request["id"], decision="due", error=None,
                                      retry_at=now + timedelta(seconds=1 if api else 60), now=now)
            continue
        decision, error, retry_at = "approved", None, None
        try:
            api.approve_chat_join_request(request["chat_id"], request["user_id"])
        except BotApiError as exc:
            if "USER_ALREADY_PARTICIPANT" in exc.description:
                decision = "approved"
            elif exc.code == 429:
                decision, error, retry_at = "due", str(exc), now + timedelta(seconds=exc.retry_after or 1)
            elif exc.retryable and request["attempts"] < APPROVAL_MAX_ATTEMPTS:
                decision, error, retry_at = "due", str(exc), now + _backoff(request["attempts"])
            else:
                decision, error = "failed", str(exc)
        with db.transaction() as conn:
            store.finish_approval(conn, space_id, request["id"], decision=decision, error=error, retry_at=retry_at,
                                  now=clock.now())
        approved += decision == "approved"
    return approved
