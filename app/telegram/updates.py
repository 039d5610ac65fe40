"""Processing queued Bot API updates: join requests, membership changes, the bot's own status, and
the commands people send the bot in private (/start, /stop).

Each update is applied in one transaction together with everything it records (binding,
`subscribed` event and its outbox rows, join request, planned drip, membership fact); the
update row is marked done in the same transaction, so a crash either applies it whole or leaves
it pending for the next worker. Shapes: https://core.telegram.org/bots/api#update
"""
from datetime import datetime, timezone

import psycopg
from flask import Flask

from app import db
from app.conversion import store as ingress_store
from app.conversion.events import EventIn
from app.conversion.announce import announce_event
from app.lib import clock
from app.link.parse import uid_from_start
from app.telegram import store

IN_CHAT = ("creator", "administrator", "member")
STOPPED_BY_COMMAND = "stopped: the person sent /stop"
STOPPED_BY_BLOCK = "stopped: the person blocked the bot"


class BadUpdate(ValueError):
    """An update whose JSON lacks a field we need; it is marked failed with this reason."""


def _at(unix_seconds) -> datetime:
    if not isinstance(unix_seconds, int):
        raise BadUpdate("date is not a unix time")
    return datetime.fromtimestamp(unix_seconds, timezone.utc)


def _is_in(member: dict) -> bool:
    status = member.get("status")
    return status in IN_CHAT or (status == "restricted" and bool(member.get("is_member")))


def join_eid(chat_id: int, user_id: int, date: int) -> str:
    """The `subscribed` eid of a join request: the same request re-delivered is a duplicate."""
    return f"tg-join:{chat_id}:{user_id}:{date}"


def _invite_row(conn, space_id: int, chat_id: int, invite: dict | None) -> dict | None:
    if not isinstance(invite, dict):
        return None
    link = invite.get("invite_link")
    row = store.find_invite_by_link(conn, space_id, chat_id, link) if isinstance(link, str) else None
    if row is None and isinstance(invite.get("name"), str) and invite["name"].startswith("xt"):
        row = store.find_invite_by_name(conn, space_id, chat_id, invite["name"])
    return row


def process(app: Flask, row: dict) -> list[tuple]:
    """Apply one claimed update and mark it done, in one transaction; return live-feed announcements to make.

    Raises BadUpdate for malformed JSON (the caller marks the update failed).
    """
    body = row["body"]
    announcements: list[tuple] = []
    with db.transaction() as conn:
        # What an update records is derived from the update row, which is already durable: this
        # commit need not wait for its WAL flush, so it does not queue in front of the webhook's
        # own durable commits. A database crash that loses it leaves the update pending (its done
        # mark is in the same transaction) and it is applied again; every row it writes is keyed
        # (eid, join request, update_id, drip step), so nothing is recorded twice.
        conn.execute("SET LOCAL synchronous_commit = off")
        kind = row["kind"]
        if kind == "chat_join_request":
            announcements = _join_request(conn, row["space_id"], body["chat_join_request"])
        elif kind == "chat_member":
            _chat_member(conn, row["space_id"], body["chat_member"], row["update_id"])
        elif kind == "my_chat_member":
            _my_chat_member(conn, row["space_id"], body["my_chat_member"])
        elif kind == "message":
            _message(conn, row["space_id"], body["message"])
        store.finish_update(conn, row["space_id"], row["bot_id"], row["update_id"], error=None, failed=False,
                            now=clock.now())
    return announcements


def _join_request(conn: psycopg.Connection, space_id: int, request: dict) -> list[tuple]:
    """Attribute the request, bind and record `subscribed` for our links, plan the drip, queue the decision."""
    try:
        chat_id = int(request["chat"]["id"])
        user = request["from"]
        user_id = int(user["id"])
        date = request["date"]
    except (KeyError, TypeError, ValueError):
        raise BadUpdate("chat_join_request lacks chat.id, from.id or date") from None
    channel = store.find_channel(conn, space_id, chat_id)
    if channel is None:
        return []
    now = clock.now()
    invite = _invite_row(conn, space_id, chat_id, request.get("invite_link"))
    attribution, uid, link_id = "none", None, None
    if invite is not None:
        link_id = invite["link_id"]
        attribution = "link"
        if invite["kind"] == "click":
            store.mark_invite_used(conn, space_id, invite["id"], user_id, now)
            ingress_store.lock_tg_id(conn, space_id, user_id)
            bound = ingress_store.bind_uid(conn, space_id, invite["uid"], user_id, now)
            if bound["bound"]:
                ingress_store.backfill_tg_events(conn, space_id, invite["uid"], user_id)
                attribution, uid = "click", invite["uid"]
    announcements = []
    event_id = None
    if attribution != "none":
        if uid is None:
            ingress_store.lock_tg_id(conn, space_id, user_id)
        event_uid = uid or ingress_store.find_uid_for_tg_id(conn, space_id, user_id)
        event = EventIn(event="subscribed", uid=event_uid, tg_id=user_id, eid=join_eid(chat_id, user_id, date),
                        value=None, currency="USD", occurred_at_ms=int(_at(date).timestamp() * 1000))
        is_new, event_id = ingress_store.record_event(conn, space_id, event, uid=event_uid, received_at=now,
                                                      source="telegram")
        if is_new:
            announcements.append((space_id, event_id, event, event_uid))
    name = " ".join(str(user.get(k)) for k in ("first_name", "last_name") if user.get(k))[:200] or None
    user_chat_id = request.get("user_chat_id")
    created = store.create_join_request(
        conn, space_id, chat_id=chat_id, user_id=user_id,
        user_chat_id=int(user_chat_id) if isinstance(user_chat_id, int) else None, user_name=name,
        requested_at=_at(date), received_at=now,
        invite_link=(request.get("invite_link") or {}).get("invite_link") if isinstance(request.get("invite_link"), dict) else None,
        attribution=attribution, uid=uid, link_id=link_id, event_id=event_id,
        decision="due" if channel["auto_approve"] else "manual")
    if created is not None and isinstance(user_chat_id, int):
        store.schedule_drip(conn, space_id, chat_id=chat_id, join_request_id=created["id"], user_id=user_id,
                            user_chat_id=user_chat_id, uid=uid, start=now)
    return announcements


def _chat_member(conn: psycopg.Connection, space_id: int, update: dict, update_id: int) -> None:
    """Record a join or a leave (a membership fact, never a canonical event), attributed where known."""
    try:
        chat_id = int(update["chat"]["id"])
        old, new = update["old_chat_member"], update["new_chat_member"]
        user_id = int(new["user"]["id"])
        at = _at(update["date"])
    except (KeyError, TypeError, ValueError):
        raise BadUpdate("chat_member lacks chat.id, old/new_chat_member or date") from None
    if store.find_channel(conn, space_id, chat_id) is None:
        return
    was_in, is_in = _is_in(old), _is_in(new)
    if was_in == is_in:
        return
    uid = link_id = None
    invite = _invite_row(conn, space_id, chat_id, update.get("invite_link"))
    if invite is not None:
        uid, link_id = invite["uid"], invite["link_id"]
    if uid is None and link_id is None:
        earlier = store.find_member_attribution(conn, space_id, chat_id, user_id)
        if earlier is not None:
            uid, link_id = earlier["uid"], earlier["link_id"]
    store.record_member_change(conn, space_id, chat_id=chat_id, user_id=user_id, kind="join" if is_in else "leave",
                               at=at, uid=uid, link_id=link_id, update_id=update_id)


def _my_chat_member(conn: psycopg.Connection, space_id: int, update: dict) -> None:
    """The bot's own status in a channel changed: removed or stripped of the invite right → disconnected."""
    try:
        chat_id = int(update["chat"]["id"])
        new = update["new_chat_member"]
    except (KeyError, TypeError, ValueError):
        raise BadUpdate("my_chat_member lacks chat.id or new_chat_member") from None
    status = new.get("status")
    if (update.get("chat") or {}).get("type") == "private":
        # The person blocked the bot (kicked) or restarted it (member; the client also sends /start).
        if status == "kicked":
            store.stop_messages_of_user(conn, space_id, chat_id, STOPPED_BY_BLOCK)
        return
    if status == "creator" or (status == "administrator" and new.get("can_invite_users")):
        connected, note = True, None
    elif status in ("left", "kicked"):
        connected, note = False, "the bot was removed from the channel"
    elif status == "administrator":
        connected, note = False, "the bot lost the \"Invite users via link\" right"
    else:
        connected, note = False, "the bot is no longer an administrator of the channel"
    store.set_channel_connected(conn, space_id, chat_id, connected, note, clock.now())


def command_of(text: str) -> tuple[str, str]:
    """A bot command and its payload from a message text: `/start@my_bot fb_x` → ("/start", "fb_x")."""
    head, _, payload = text.strip().partition(" ")
    return head.split("@", 1)[0].lower(), payload.strip()


def _message(conn: psycopg.Connection, space_id: int, message: dict) -> None:
    """/start (optionally `fb_<uid>`) and /stop in a private chat with the bot; other messages are kept only in the queue.

    1. /start fb_<uid>: bind the person to the uid as POST /bind does (the first bind wins) and
       back-fill their uid-less events.
    2. /start: the person's stopped drip messages are due again (the next one now, later ones as
       far apart as planned); a person known from a join request whose drip never started gets it
       from now.
    3. /stop: every unsent drip message to the person is stopped.
    """
    chat = message.get("chat") if isinstance(message, dict) else None
    text = message.get("text") if isinstance(message, dict) else None
    if not isinstance(chat, dict) or chat.get("type") != "private" or not isinstance(text, str) \
            or not text.startswith("/"):
        return  # groups, channels' posts (no `from`), photos, plain text: nothing to do
    try:
        chat_id = int(chat["id"])
        user_id = int(message["from"]["id"])
    except (KeyError, TypeError, ValueError):
        raise BadUpdate("a private message lacks chat.id or from.id") from None
    command, payload = command_of(text)
    now = clock.now()
    if command == "/stop":
        store.stop_messages_of_user(conn, space_id, user_id, STOPPED_BY_COMMAND)
        return
    if command != "/start":
        return
    uid = uid_from_start(payload)
    if uid is not None:
        ingress_store.lock_tg_id(conn, space_id, user_id)
        if ingress_store.bind_uid(conn, space_id, uid, user_id, now)["bound"]:
            ingress_store.backfill_tg_events(conn, space_id, uid, user_id)
    if store.resume_messages_of_user(conn, space_id, user_id, chat_id, now):
        return
    request = store.find_undripped_join_request(conn, space_id, user_id)
    if request is not None:
        store.schedule_drip(conn, space_id, chat_id=request["chat_id"], join_request_id=request["id"], user_id=user_id,
                            user_chat_id=chat_id, uid=request["uid"], start=now)


def announce(announcements: list[tuple]) -> None:
    """After commit: publish new events on the live feed and wake the delivery workers."""
    for space_id, event_id, event, uid in announcements:
        announce_event(space_id, event_id, event, uid)
