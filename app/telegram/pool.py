"""Per-click invite links: the pre-minted pool per channel, the landing's claim, shared fallbacks, revocation.

Each pooled link is created (createChatInviteLink, creates_join_request) before any click,
with a freshly minted uid in its name (`xt_<uid>`): the landing that takes it records its click
under that uid, so the join request that comes back through the link names the click. Landings
only claim rows from Postgres (one UPDATE … SKIP LOCKED) and never wait on Telegram.
"""
import logging
from datetime import datetime, timedelta

from flask import Flask

from app import db
from app.lib import clock, tokens
from app.lib.secretbox import SealError
from app.telegram import bots, store
from app.telegram.api import BotApiError

log = logging.getLogger(__name__)

INVITE_PREFIX = "xt_"
SHARED_PREFIX = "xt-link "
TOP_UP_BATCH = 200


def invite_name(uid: str) -> str:
    """The name a per-click link carries (Telegram allows 32 characters; a uid is 22)."""
    return f"{INVITE_PREFIX}{uid}"


def top_up(app: Flask, space_id: int, chat_id: int) -> dict:
    """Mint per-click links until the channel has TELEGRAM_POOL_SIZE ready, and a shared link for each channel link lacking one.

    A 429 stops the round and pauses the channel's pool for `retry_after`; any other error is
    stored on the channel (shown on screen and in telegram status). Returns {created, shared, error}.
    """
    now = clock.now()
    with db.connection() as conn:
        bot = store.find_bot(conn, space_id)
        channel = store.find_channel(conn, space_id, chat_id)
        if bot is None or channel is None or not channel["connected"]:
            return {"created": 0, "shared": 0, "error": None}
        if channel["pool_paused_until"] and channel["pool_paused_until"] > now:
            return {"created": 0, "shared": 0, "error": None}
        missing = app.config["TELEGRAM_POOL_SIZE"] - store.count_pool(conn, space_id, chat_id)["ready"]
        links = store.list_links_without_shared_invite(conn, space_id, chat_id, channel["username"])
    try:
        api = bots.api_for(app, bot)
    except SealError:
        return {"created": 0, "shared": 0, "error": "the bot token does not open with this SECRET_KEY"}
    created = shared = 0
    error, paused = None, None
    try:
        for link in links:
            name = f"{SHARED_PREFIX}{link['slug']}"[:32]
            result = api.create_chat_invite_link(chat_id, name)
            with db.transaction() as conn:
                store.add_invite(conn, space_id, chat_id, kind="shared", invite_link=result["invite_link"], name=name,
                                 uid=None, link_id=link["id"], now=clock.now())
            shared += 1
        for _ in range(max(0, min(missing, TOP_UP_BATCH))):
            uid = tokens.new_uid()
            result = api.create_chat_invite_link(chat_id, invite_name(uid))
            with db.transaction() as conn:
                store.add_invite(conn, space_id, chat_id, kind="click", invite_link=result["invite_link"],
                                 name=invite_name(uid), uid=uid, link_id=None, now=clock.now())
            created += 1
    except BotApiError as exc:
        error = f"createChatInviteLink: {exc}"
        if exc.code == 429:
            paused = clock.now() + timedelta(seconds=exc.retry_after or 1)
        elif exc.code in (400, 403):
            error += " (check that the bot is still an administrator with the invite right)"
    with db.transaction() as conn:
        store.set_pool_result(conn, space_id, chat_id, error=error, paused_until=paused, now=clock.now())
    return {"created": created, "shared": shared, "error": error}


def top_up_all(app: Flask) -> int:
    """Top up every connected channel's pool (the scheduler's job); return how many links were created."""
    with db.connection() as conn:
        channels = store.list_connected_channels(conn)
    total = 0
    for channel in channels:
        try:
            result = top_up(app, channel["space_id"], channel["chat_id"])
        except db.StorageUnavailable:
            raise
        except Exception:
            log.exception("topping up the invite pool of channel %s failed", channel["chat_id"])
            continue
        total += result["created"] + result["shared"]
    return total


def revoke_unused(app: Flask, now: datetime | None = None) -> int:
    """Revoke per-click links handed out over TELEGRAM_INVITE_UNUSED_HOURS ago and never used, and used ones.

    A used link is revoked so it cannot be passed on; an unused one so a stale ad click cannot
    join months later under someone else's attribution. Returns how many were revoked.
    """
    now = now or clock.now()
    cutoff = now - timedelta(hours=app.config["TELEGRAM_INVITE_UNUSED_HOURS"])
    with db.connection() as conn:
        spaces = [r["space_id"] for r in conn.execute("SELECT space_id FROM telegram_bots").fetchall()]
    revoked = 0
    for space_id in spaces:
        with db.connection() as conn:
            bot = store.find_bot(conn, space_id)
            rows = store.list_invites_to_revoke(conn, space_id, cutoff)
        if not rows or bot is None:
            continue
        try:
            api = bots.api_for(app, bot)
        except SealError:
            continue
        for row in rows:
            error = None
            try:
                api.revoke_chat_invite_link(row["chat_id"], row["invite_link"])
            except BotApiError as exc:
                if exc.code == 429 or exc.retryable:
                    break
                # 400 (already revoked or unknown): nothing left to revoke; keep the reason.
                error = str(exc)
            with db.transaction() as conn:
                store.mark_invite_revoked(conn, space_id, row["id"], error, clock.now())
            revoked += 1
    return revoked


def landing_invite(link, uid: str | None, now: datetime) -> tuple[str | None, str | None]:
    """For a channel link's landing: (invite URL, uid of the click), never calling Telegram.

    A visit (uid None) claims a pooled per-click link and takes its uid; a repeat visit (uid
    given) gets its own link again. An empty pool falls back to the link's shared invite (the
    click keeps a uid of its own, and the join is attributed to the link), counted on the
    channel. (None, None) when the link names no connected channel of its space: the landing
    then behaves as before.
    """
    with db.connection() as conn:
        channel = store.find_channel_by_ref(conn, link.space_id, channel_ref(link.target) or "")
        if channel is None:
            return None, None
        if uid is not None:
            own = store.find_invite_of_uid(conn, link.space_id, uid)
            if own is not None and own["state"] in ("handed", "used"):
                return own["invite_link"], uid
            return (store.find_shared_invite(conn, link.space_id, channel["chat_id"], link.id)
                    or channel["fallback_link"]), uid
        if channel["connected"]:
            claimed = store.claim_invite(conn, link.space_id, channel["chat_id"], link.id, now)
            if claimed is not None:
                return claimed["invite_link"], claimed["uid"]
            store.note_exhausted(conn, link.space_id, channel["chat_id"], now)
        shared = store.find_shared_invite(conn, link.space_id, channel["chat_id"], link.id)
    return shared or channel["fallback_link"], tokens.new_uid()


def preview_invite(link) -> str | None:
    """Where a bot or link preview of a channel link is pointed: the shared link or the channel's own (no claim)."""
    with db.connection() as conn:
        channel = store.find_channel_by_ref(conn, link.space_id, channel_ref(link.target) or "")
        if channel is None:
            return None
        return store.find_shared_invite(conn, link.space_id, channel["chat_id"], link.id) or channel["fallback_link"]


def channel_ref(target: str) -> str | None:
    """The chat id or username a channel link's target names (`-100…`, `https://t.me/name`); None for invite links."""
    if target.lstrip("-").isdigit():
        return target
    if target.startswith("https://t.me/"):
        name = target[len("https://t.me/"):]
        return None if name.startswith("+") else name
    return None


def unconnected_channel_error(conn, space_id: int, kind: str, target: str) -> str | None:
    """Why a channel link's chat-id target cannot be saved (not a channel of the space), or None."""
    if kind != "channel" or not target.lstrip("-").isdigit():
        return None
    if store.find_channel(conn, space_id, int(target)) is None:
        return (f"channel {target} is not connected to this space: add it on the Telegram screen"
                " (or `flask --app wsgi telegram channel add`) first")
    return None


def link_saved(app: Flask, link) -> None:
    """After a channel link is saved: mint its shared invite link now rather than at the next top-up.

    Fail-soft: the scheduler's top-up mints it later if Telegram cannot be reached now.
    """
    if link.kind != "channel":
        return
    try:
        with db.connection() as conn:
            channel = store.find_channel_by_ref(conn, link.space_id, channel_ref(link.target) or "")
        if channel is not None and channel["connected"]:
            top_up(app, link.space_id, channel["chat_id"])
    except Exception:
        log.exception("minting the shared invite link of link %s failed (the next top-up retries)", link.slug)
