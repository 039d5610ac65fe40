"""SQL for the Telegram channel funnel: bots, channels, invite pools, the update queue, join
requests, membership facts, drip messages and channel stats. Callers own the transactions."""
from datetime import datetime

import psycopg
from psycopg.types.json import Jsonb

MAX_LIST = 500
BOT_COLUMNS = ("space_id, bot_id, username, token_sealed, token_hint, hook_id, secret_token_hash, webhook_url,"
               " webhook_set_at, webhook_error, send_paused_until, connected_at")
CHANNEL_COLUMNS = ("space_id, chat_id, title, username, chat_type, fallback_link, auto_approve, connected, status_note,"
                   " status_changed_at, member_count, member_count_at, pool_paused_until, pool_error, pool_checked_at,"
                   " exhausted_count, last_exhausted_at, created_at")


class NotFound(LookupError):
    """No such row in this scope."""


class BotTaken(ValueError):
    """The bot is connected to another space (a bot has one webhook)."""


# --- bots -------------------------------------------------------------------------------------

def save_bot(conn: psycopg.Connection, space_id: int, *, bot_id: int, username: str, token_sealed: bytes,
             token_hint: str, hook_id: str, secret_token_hash: bytes, webhook_url: str, now: datetime) -> dict:
    """Connect (or replace) the space's bot; BotTaken when another space has this bot.

    The bot's row in global_names (the cross-space directory) decides: the space's previous bot is
    released and the new one claimed in the same transaction, and the primary key refuses a bot
    another space holds.
    """
    names = {"space_id": space_id, "bot": str(bot_id)}
    try:
        with conn.transaction():
            conn.execute("DELETE FROM global_names WHERE kind = 'telegram_bot' AND space_id = %(space_id)s", names)
            conn.execute("INSERT INTO global_names (kind, name, space_id) VALUES ('telegram_bot', %(bot)s, %(space_id)s)",
                         names)
            return conn.execute(
                "INSERT INTO telegram_bots (space_id, bot_id, username, token_sealed, token_hint, hook_id,"
                " secret_token_hash, webhook_url, connected_at)"
                " VALUES (%(space_id)s, %(bot_id)s, %(username)s, %(sealed)s, %(hint)s, %(hook)s, %(hash)s, %(url)s,"
                " %(now)s)"
                " ON CONFLICT (space_id) DO UPDATE SET bot_id = EXCLUDED.bot_id, username = EXCLUDED.username,"
                " token_sealed = EXCLUDED.token_sealed, token_hint = EXCLUDED.token_hint, hook_id = EXCLUDED.hook_id,"
                " secret_token_hash = EXCLUDED.secret_token_hash, webhook_url = EXCLUDED.webhook_url,"
                " webhook_set_at = NULL, webhook_error = NULL, send_paused_until = NULL,"
                " connected_at = EXCLUDED.connected_at"
                " RETURNING " + BOT_COLUMNS,
                {"space_id": space_id, "bot_id": bot_id, "username": username, "sealed": token_sealed,
                 "hint": token_hint, "hook": hook_id, "hash": secret_token_hash, "url": webhook_url, "now": now},
            ).fetchone()
    except psycopg.errors.UniqueViolation:
        raise BotTaken("this bot is already connected to another space; disconnect it there first") from None


def set_webhook_result(conn: psycopg.Connection, space_id: int, *, error: str | None, now: datetime) -> None:
    """Record whether setWebhook succeeded (error None) or why it failed."""
    conn.execute(
        "UPDATE telegram_bots SET webhook_set_at = CASE WHEN %(error)s::text IS NULL THEN %(now)s END,"
        " webhook_error = %(error)s WHERE space_id = %(space_id)s",
        {"space_id": space_id, "error": error, "now": now},
    )


def find_bot(conn: psycopg.Connection, space_id: int) -> dict | None:
    """The space's bot, or None."""
    return conn.execute("SELECT " + BOT_COLUMNS + " FROM telegram_bots WHERE space_id = %(space_id)s",
                        {"space_id": space_id}).fetchone()


def find_bot_by_hook(conn: psycopg.Connection, hook_id: str) -> dict | None:
    """The bot whose webhook path is `hook_id` (the webhook's first lookup, before a space is known)."""
    return conn.execute("SELECT space_id, bot_id, secret_token_hash FROM telegram_bots WHERE hook_id = %(hook)s",
                        {"hook": hook_id}).fetchone()


def delete_bot(conn: psycopg.Connection, space_id: int) -> dict | None:
    """Forget the space's bot (its sealed token, hook id and secret digest) and release it; the deleted row, or None."""
    conn.execute("DELETE FROM global_names WHERE kind = 'telegram_bot' AND space_id = %(space_id)s",
                 {"space_id": space_id})
    return conn.execute("DELETE FROM telegram_bots WHERE space_id = %(space_id)s RETURNING username, bot_id",
                        {"space_id": space_id}).fetchone()


def hold_outbound(conn: psycopg.Connection, space_id: int, reason: str) -> dict:
    """The bot is gone: stop the space's unsent drip messages and leave due approvals for a human."""
    stopped = conn.execute(
        "UPDATE telegram_messages SET state = 'stopped', error = %(reason)s, lease_until = NULL"
        " WHERE space_id = %(space_id)s AND state = 'due'", {"space_id": space_id, "reason": reason}).rowcount
    held = conn.execute(
        "UPDATE telegram_join_requests SET decision = 'manual', next_try_at = NULL, error = %(reason)s"
        " WHERE space_id = %(space_id)s AND decision = 'due'", {"space_id": space_id, "reason": reason}).rowcount
    return {"messages_stopped": stopped, "requests_left_for_a_human": held}


def disconnect_channels(conn: psycopg.Connection, space_id: int, note: str, now: datetime) -> int:
    """Mark every connected channel of the space disconnected with `note` (e.g. its bot was replaced)."""
    return conn.execute("UPDATE telegram_channels SET connected = false, status_note = %(note)s,"
                        " status_changed_at = %(now)s WHERE space_id = %(space_id)s AND connected",
                        {"space_id": space_id, "note": note, "now": now}).rowcount


def lease_bot_sender(conn: psycopg.Connection, space_id: int, now: datetime, until: datetime) -> bool:
    """Become the one sender of the space's bot until `until`; False when another worker is, or a 429 pause runs."""
    return conn.execute(
        "UPDATE telegram_bots SET send_lease_until = %(until)s WHERE space_id = %(space_id)s"
        " AND (send_lease_until IS NULL OR send_lease_until <= %(now)s)"
        " AND (send_paused_until IS NULL OR send_paused_until <= %(now)s)",
        {"space_id": space_id, "now": now, "until": until},
    ).rowcount == 1


def release_bot_sender(conn: psycopg.Connection, space_id: int, paused_until: datetime | None) -> None:
    """End the send lease; a 429 leaves the bot paused until `paused_until`."""
    conn.execute(
        "UPDATE telegram_bots SET send_lease_until = NULL,"
        " send_paused_until = coalesce(%(paused)s, send_paused_until) WHERE space_id = %(space_id)s",
        {"space_id": space_id, "paused": paused_until},
    )


# --- channels ---------------------------------------------------------------------------------

def save_channel(conn: psycopg.Connection, space_id: int, *, chat_id: int, title: str, username: str | None,
                 chat_type: str, fallback_link: str | None, now: datetime) -> dict:
    """Add a channel (or refresh one added before: connected again, its switches kept)."""
    return conn.execute(
        "INSERT INTO telegram_channels (space_id, chat_id, title, username, chat_type, fallback_link,"
        " status_changed_at, created_at) VALUES (%(space_id)s, %(chat_id)s, %(title)s, %(username)s, %(type)s,"
        " %(fallback)s, %(now)s, %(now)s)"
        " ON CONFLICT (space_id, chat_id) DO UPDATE SET title = EXCLUDED.title, username = EXCLUDED.username,"
        " chat_type = EXCLUDED.chat_type, fallback_link = EXCLUDED.fallback_link, connected = true,"
        " status_note = NULL, status_changed_at = EXCLUDED.status_changed_at, pool_error = NULL"
        " RETURNING " + CHANNEL_COLUMNS,
        {"space_id": space_id, "chat_id": chat_id, "title": title, "username": username, "type": chat_type,
         "fallback": fallback_link, "now": now},
    ).fetchone()


def list_channels(conn: psycopg.Connection, space_id: int) -> list[dict]:
    """The space's channels, oldest first."""
    return conn.execute("SELECT " + CHANNEL_COLUMNS + " FROM telegram_channels WHERE space_id = %(space_id)s"
                        " ORDER BY created_at, chat_id LIMIT %(limit)s",
                        {"space_id": space_id, "limit": MAX_LIST}).fetchall()


def find_channel(conn: psycopg.Connection, space_id: int, chat_id: int) -> dict | None:
    """The space's channel `chat_id`, or None."""
    return conn.execute("SELECT " + CHANNEL_COLUMNS + " FROM telegram_channels"
                        " WHERE space_id = %(space_id)s AND chat_id = %(chat_id)s",
                        {"space_id": space_id, "chat_id": chat_id}).fetchone()


def find_channel_by_ref(conn: psycopg.Connection, space_id: int, ref: str) -> dict | None:
    """The space's channel named by a link target: a chat id (`-100…`) or a public username."""
    if ref.lstrip("-").isdigit():
        return find_channel(conn, space_id, int(ref))
    return conn.execute("SELECT " + CHANNEL_COLUMNS + " FROM telegram_channels"
                        " WHERE space_id = %(space_id)s AND lower(username) = lower(%(name)s)",
                        {"space_id": space_id, "name": ref}).fetchone()


def set_channel_connected(conn: psycopg.Connection, space_id: int, chat_id: int, connected: bool, note: str | None,
                          now: datetime) -> bool:
    """Mark a channel connected or disconnected (with the reason shown on screen)."""
    return conn.execute(
        "UPDATE telegram_channels SET connected = %(connected)s, status_note = %(note)s, status_changed_at = %(now)s"
        " WHERE space_id = %(space_id)s AND chat_id = %(chat_id)s",
        {"space_id": space_id, "chat_id": chat_id, "connected": connected, "note": note, "now": now},
    ).rowcount == 1


def set_auto_approve(conn: psycopg.Connection, space_id: int, chat_id: int, on: bool) -> bool:
    """Flip the channel's approve switch; False when the space has no such channel."""
    return conn.execute(
        "UPDATE telegram_channels SET auto_approve = %(on)s WHERE space_id = %(space_id)s AND chat_id = %(chat_id)s",
        {"space_id": space_id, "chat_id": chat_id, "on": on},
    ).rowcount == 1


def set_pool_result(conn: psycopg.Connection, space_id: int, chat_id: int, *, error: str | None,
                    paused_until: datetime | None, now: datetime) -> None:
    """Record a top-up round's outcome: its error (None when fine) and a 429 pause."""
    conn.execute(
        "UPDATE telegram_channels SET pool_error = %(error)s, pool_paused_until = %(paused)s, pool_checked_at = %(now)s"
        " WHERE space_id = %(space_id)s AND chat_id = %(chat_id)s",
        {"space_id": space_id, "chat_id": chat_id, "error": error, "paused": paused_until, "now": now},
    )


def set_member_count(conn: psycopg.Connection, space_id: int, chat_id: int, count: int, now: datetime) -> None:
    """Store Telegram's latest member count of the channel."""
    conn.execute("UPDATE telegram_channels SET member_count = %(count)s, member_count_at = %(now)s"
                 " WHERE space_id = %(space_id)s AND chat_id = %(chat_id)s",
                 {"space_id": space_id, "chat_id": chat_id, "count": count, "now": now})


def list_connected_channels(conn: psycopg.Connection) -> list[dict]:
    """Every connected channel of every space whose bot is connected (the periodic jobs' work list)."""
    return conn.execute(
        "SELECT c.space_id, c.chat_id, c.title, c.pool_paused_until FROM telegram_channels c"
        " JOIN telegram_bots b ON b.space_id = c.space_id WHERE c.connected ORDER BY c.space_id, c.chat_id",
    ).fetchall()


# --- invite pool --------------------------------------------------------------------------------

def count_pool(conn: psycopg.Connection, space_id: int, chat_id: int) -> dict:
    """How many per-click links are ready, handed (waiting), used and revoked."""
    row = conn.execute(
        "SELECT count(*) FILTER (WHERE state = 'ready') AS ready,"
        " count(*) FILTER (WHERE state = 'handed') AS handed,"
        " count(*) FILTER (WHERE state = 'used') AS used,"
        " count(*) FILTER (WHERE state = 'revoked') AS revoked"
        " FROM telegram_invites WHERE space_id = %(space_id)s AND chat_id = %(chat_id)s AND kind = 'click'",
        {"space_id": space_id, "chat_id": chat_id},
    ).fetchone()
    return {k: int(v) for k, v in row.items()}


def add_invite(conn: psycopg.Connection, space_id: int, chat_id: int, *, kind: str, invite_link: str, name: str,
               uid: str | None, link_id: int | None, now: datetime) -> None:
    """Store an invite link Telegram just created (ready for a click, or a link's shared one)."""
    conn.execute(
        "INSERT INTO telegram_invites (space_id, chat_id, kind, invite_link, name, uid, link_id, state, created_at)"
        " VALUES (%(space_id)s, %(chat_id)s, %(kind)s, %(link)s, %(name)s, %(uid)s, %(link_id)s,"
        " CASE WHEN %(kind)s = 'click' THEN 'ready' ELSE 'handed' END, %(now)s)",
        {"space_id": space_id, "chat_id": chat_id, "kind": kind, "link": invite_link, "name": name, "uid": uid,
         "link_id": link_id, "now": now},
    )


_CLAIM_INVITE = """
UPDATE telegram_invites i SET state = 'handed', handed_at = %(now)s, link_id = %(link_id)s
WHERE (i.space_id, i.id) = (
    SELECT space_id, id FROM telegram_invites
    WHERE space_id = %(space_id)s AND chat_id = %(chat_id)s AND state = 'ready'
    ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
RETURNING i.uid, i.invite_link
"""


def claim_invite(conn: psycopg.Connection, space_id: int, chat_id: int, link_id: int, now: datetime) -> dict | None:
    """Hand the oldest ready per-click link to one click: {uid, invite_link}, or None when the pool is empty.

    The row lock and the state change are one statement: two landings never get the same link.
    """
    return conn.execute(_CLAIM_INVITE, {"space_id": space_id, "chat_id": chat_id, "link_id": link_id,
                                        "now": now}).fetchone()


def find_invite_of_uid(conn: psycopg.Connection, space_id: int, uid: str) -> dict | None:
    """The per-click link handed to `uid` (a repeat visit gets it again), or None."""
    return conn.execute("SELECT chat_id, invite_link, state FROM telegram_invites"
                        " WHERE space_id = %(space_id)s AND uid = %(uid)s",
                        {"space_id": space_id, "uid": uid}).fetchone()


def find_shared_invite(conn: psycopg.Connection, space_id: int, chat_id: int, link_id: int) -> str | None:
    """The link's shared invite link for the channel (the pool's fallback), or None."""
    row = conn.execute(
        "SELECT invite_link FROM telegram_invites WHERE space_id = %(space_id)s AND chat_id = %(chat_id)s"
        " AND link_id = %(link_id)s AND kind = 'shared' AND state <> 'revoked'",
        {"space_id": space_id, "chat_id": chat_id, "link_id": link_id},
    ).fetchone()
    return row["invite_link"] if row else None


def note_exhausted(conn: psycopg.Connection, space_id: int, chat_id: int, now: datetime) -> None:
    """Count a landing that found the channel's pool empty."""
    conn.execute("UPDATE telegram_channels SET exhausted_count = exhausted_count + 1, last_exhausted_at = %(now)s"
                 " WHERE space_id = %(space_id)s AND chat_id = %(chat_id)s",
                 {"space_id": space_id, "chat_id": chat_id, "now": now})


def list_links_without_shared_invite(conn: psycopg.Connection, space_id: int, chat_id: int,
                                     username: str | None) -> list[dict]:
    """Live channel links of the space naming this channel (by chat id or username) that lack a shared link."""
    return conn.execute(
        "SELECT l.id, l.slug FROM links l WHERE l.space_id = %(space_id)s AND l.kind = 'channel'"
        " AND l.archived_at IS NULL"
        " AND (l.target = %(chat)s OR (%(username)s::text IS NOT NULL AND lower(l.target) IN"
        "      (lower('https://t.me/' || %(username)s), lower('@' || %(username)s))))"
        " AND NOT EXISTS (SELECT 1 FROM telegram_invites i WHERE i.space_id = l.space_id AND i.chat_id = %(chat_id)s"
        "                 AND i.link_id = l.id AND i.kind = 'shared' AND i.state <> 'revoked')"
        " ORDER BY l.id LIMIT 100",
        {"space_id": space_id, "chat_id": chat_id, "chat": str(chat_id), "username": username},
    ).fetchall()


def find_invite_by_link(conn: psycopg.Connection, space_id: int, chat_id: int, invite_link: str) -> dict | None:
    """Our invite row for an invite link Telegram reports on a join (kind, uid, link), or None."""
    return conn.execute(
        "SELECT id, kind, uid, link_id, state FROM telegram_invites"
        " WHERE space_id = %(space_id)s AND chat_id = %(chat_id)s AND invite_link = %(link)s",
        {"space_id": space_id, "chat_id": chat_id, "link": invite_link},
    ).fetchone()


def find_invite_by_name(conn: psycopg.Connection, space_id: int, chat_id: int, name: str) -> dict | None:
    """Our invite row by the name we gave it (Telegram shows other admins' links with the tail hidden)."""
    return conn.execute(
        "SELECT id, kind, uid, link_id, state FROM telegram_invites"
        " WHERE space_id = %(space_id)s AND chat_id = %(chat_id)s AND name = %(name)s",
        {"space_id": space_id, "chat_id": chat_id, "name": name},
    ).fetchone()


def mark_invite_used(conn: psycopg.Connection, space_id: int, invite_id: int, user_id: int, now: datetime) -> None:
    """A join request came through this per-click link (it is revoked next, so it cannot be passed on)."""
    conn.execute("UPDATE telegram_invites SET state = 'used', used_at = coalesce(used_at, %(now)s),"
                 " used_by = coalesce(used_by, %(user)s) WHERE space_id = %(space_id)s AND id = %(id)s"
                 " AND kind = 'click' AND state IN ('handed', 'ready')",
                 {"space_id": space_id, "id": invite_id, "user": user_id, "now": now})


def list_invites_to_revoke(conn: psycopg.Connection, space_id: int, handed_before: datetime,
                           limit: int = 100) -> list[dict]:
    """Per-click links handed before `handed_before` and never used, and used ones not yet revoked."""
    return conn.execute(
        "SELECT id, chat_id, invite_link, state FROM telegram_invites"
        " WHERE space_id = %(space_id)s AND revoked_at IS NULL AND kind = 'click'"
        " AND (state = 'used' OR (state = 'handed' AND handed_at < %(before)s))"
        " ORDER BY handed_at LIMIT %(limit)s",
        {"space_id": space_id, "before": handed_before, "limit": limit},
    ).fetchall()


def mark_invite_revoked(conn: psycopg.Connection, space_id: int, invite_id: int, error: str | None,
                        now: datetime) -> None:
    """Telegram revoked the link (an unused one becomes 'revoked'; a used one keeps 'used')."""
    conn.execute("UPDATE telegram_invites SET revoked_at = %(now)s, revoke_error = %(error)s,"
                 " state = CASE WHEN state = 'handed' THEN 'revoked' ELSE state END"
                 " WHERE space_id = %(space_id)s AND id = %(id)s",
                 {"space_id": space_id, "id": invite_id, "error": error, "now": now})


# --- update queue -------------------------------------------------------------------------------

_CLAIM_UPDATES = """
UPDATE telegram_updates u SET lease_until = %(until)s, attempts = u.attempts + 1
FROM (SELECT space_id, bot_id, update_id FROM telegram_updates
      WHERE state = 'pending' AND (lease_until IS NULL OR lease_until <= %(now)s)
      -- Join requests first: their welcome and approval race Telegram's 5-minute window.
      ORDER BY kind <> 'chat_join_request', received_at, update_id LIMIT %(limit)s FOR UPDATE SKIP LOCKED) due
WHERE u.space_id = due.space_id AND u.bot_id = due.bot_id AND u.update_id = due.update_id
RETURNING u.space_id, u.bot_id, u.update_id, u.kind, u.body, u.attempts, u.received_at
"""


def claim_updates(conn: psycopg.Connection, now: datetime, until: datetime, limit: int = 100) -> list[dict]:
    """Lease pending updates, join requests first, then oldest first; a dead worker's lease lapses and the rows are due again."""
    rows = conn.execute(_CLAIM_UPDATES, {"now": now, "until": until, "limit": limit}).fetchall()
    return sorted(rows, key=lambda r: (r["kind"] != "chat_join_request", r["received_at"], r["update_id"]))


def finish_update(conn: psycopg.Connection, space_id: int, bot_id: int, update_id: int, *, error: str | None,
                  failed: bool, now: datetime) -> None:
    """Mark an update done, failed for good, or (error and not failed) pending again after its lease."""
    conn.execute(
        "UPDATE telegram_updates SET state = CASE WHEN %(error)s::text IS NULL THEN 'done'"
        " WHEN %(failed)s THEN 'failed' ELSE 'pending' END, processed_at = %(now)s, error = %(error)s"
        " WHERE space_id = %(space_id)s AND bot_id = %(bot_id)s AND update_id = %(update_id)s",
        {"space_id": space_id, "bot_id": bot_id, "update_id": update_id, "error": error, "failed": failed, "now": now},
    )


def has_pending_updates(conn: psycopg.Connection, now: datetime) -> bool:
    """Whether any update is waiting (the sweeper's check)."""
    return conn.execute("SELECT EXISTS (SELECT 1 FROM telegram_updates WHERE state = 'pending'"
                        " AND (lease_until IS NULL OR lease_until <= %(now)s)) AS due", {"now": now}).fetchone()["due"]


def update_queue_health(conn: psycopg.Connection, space_id: int) -> dict:
    """Pending and failed updates of the space, the oldest pending one's arrival and the last update's."""
    return conn.execute(
        "SELECT count(*) FILTER (WHERE state = 'pending') AS pending, count(*) FILTER (WHERE state = 'failed') AS failed,"
        " min(received_at) FILTER (WHERE state = 'pending') AS oldest_pending, max(received_at) AS last_update_at"
        " FROM telegram_updates WHERE space_id = %(space_id)s", {"space_id": space_id}).fetchone()


def purge_updates(conn: psycopg.Connection, older_than: datetime) -> int:
    """Delete processed updates received before `older_than` (Telegram re-delivers within a day)."""
    return conn.execute("DELETE FROM telegram_updates WHERE state <> 'pending' AND received_at < %(cutoff)s",
                        {"cutoff": older_than}).rowcount


def purge_history(conn: psycopg.Connection, older_than: datetime, limit: int = 5000) -> dict:
    """Delete up to `limit` each of drip messages, join requests and membership facts older than `older_than`.

    Kept whatever their age: unsent (due) messages, join requests still to be decided (due,
    manual) or with a message still due, and the member rows (who is in a channel now) and
    hourly stats, which are written from this log and do not need it afterwards.
    """
    params = {"cutoff": older_than, "limit": limit}
    messages = conn.execute(
        "DELETE FROM telegram_messages m USING (SELECT space_id, id FROM telegram_messages"
        " WHERE state <> 'due' AND coalesce(sent_at, due_at) < %(cutoff)s LIMIT %(limit)s) old"
        " WHERE m.space_id = old.space_id AND m.id = old.id", params).rowcount
    requests = conn.execute(
        "DELETE FROM telegram_join_requests r USING (SELECT space_id, id FROM telegram_join_requests j"
        " WHERE requested_at < %(cutoff)s AND decision IN ('approved', 'failed')"
        " AND NOT EXISTS (SELECT 1 FROM telegram_messages m WHERE m.space_id = j.space_id"
        "                 AND m.join_request_id = j.id AND m.state = 'due') LIMIT %(limit)s) old"
        " WHERE r.space_id = old.space_id AND r.id = old.id", params).rowcount
    facts = conn.execute(
        "DELETE FROM telegram_member_events e USING (SELECT space_id, id FROM telegram_member_events"
        " WHERE at < %(cutoff)s LIMIT %(limit)s) old"
        " WHERE e.space_id = old.space_id AND e.id = old.id", params).rowcount
    return {"messages": messages, "join_requests": requests, "member_events": facts}


# --- join requests ----------------------------------------------------------------------------

def create_join_request(conn: psycopg.Connection, space_id: int, **row) -> dict | None:
    """Record a join request once (chat, user, request time); None when it was recorded before."""
    return conn.execute(
        "INSERT INTO telegram_join_requests (space_id, chat_id, user_id, user_chat_id, user_name, requested_at,"
        " received_at, invite_link, attribution, uid, link_id, event_id, decision, next_try_at)"
        " VALUES (%(space_id)s, %(chat_id)s, %(user_id)s, %(user_chat_id)s, %(user_name)s, %(requested_at)s,"
        " %(received_at)s, %(invite_link)s, %(attribution)s, %(uid)s, %(link_id)s, %(event_id)s, %(decision)s,"
        " CASE WHEN %(decision)s = 'due' THEN %(received_at)s END)"
        " ON CONFLICT (space_id, chat_id, user_id, requested_at) DO NOTHING RETURNING id",
        {"space_id": space_id, **row},
    ).fetchone()


_CLAIM_APPROVALS = """
UPDATE telegram_join_requests r SET next_try_at = %(until)s, attempts = r.attempts + 1
FROM (SELECT space_id, id FROM telegram_join_requests
      WHERE decision = 'due' AND next_try_at <= %(now)s
      ORDER BY next_try_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED) due
WHERE r.space_id = due.space_id AND r.id = due.id
RETURNING r.space_id, r.id, r.chat_id, r.user_id, r.attempts, r.received_at
"""


def claim_approvals(conn: psycopg.Connection, now: datetime, until: datetime, limit: int = 100) -> list[dict]:
    """Lease join requests due for approval."""
    return conn.execute(_CLAIM_APPROVALS, {"now": now, "until": until, "limit": limit}).fetchall()


def finish_approval(conn: psycopg.Connection, space_id: int, request_id: int, *, decision: str, error: str | None,
                    retry_at: datetime | None, now: datetime) -> None:
    """approved / failed for good, or due again at `retry_at` (decision 'due')."""
    conn.execute(
        "UPDATE telegram_join_requests SET decision = %(decision)s, error = %(error)s,"
        " decided_at = CASE WHEN %(decision)s = 'due' THEN NULL ELSE %(now)s END, next_try_at = %(retry)s"
        " WHERE space_id = %(space_id)s AND id = %(id)s",
        {"space_id": space_id, "id": request_id, "decision": decision, "error": error, "retry": retry_at, "now": now},
    )


def approve_manually(conn: psycopg.Connection, space_id: int, request_id: int, now: datetime) -> bool:
    """Queue a request left for a human for approval now (the screen's Approve)."""
    return conn.execute(
        "UPDATE telegram_join_requests SET decision = 'due', next_try_at = %(now)s, error = NULL"
        " WHERE space_id = %(space_id)s AND id = %(id)s AND decision IN ('manual', 'failed')",
        {"space_id": space_id, "id": request_id, "now": now},
    ).rowcount == 1


def has_due_approvals(conn: psycopg.Connection, now: datetime) -> bool:
    """Whether a join request waits for its approval call."""
    return conn.execute("SELECT EXISTS (SELECT 1 FROM telegram_join_requests WHERE decision = 'due'"
                        " AND next_try_at <= %(now)s) AS due", {"now": now}).fetchone()["due"]


def list_join_requests(conn: psycopg.Connection, space_id: int, *, attribution: str | None = None,
                       limit: int = 100) -> list[dict]:
    """The space's latest join requests (optionally only one attribution), newest first."""
    return conn.execute(
        "SELECT r.id, r.chat_id, c.title, r.user_id, r.user_name, r.requested_at, r.invite_link, r.attribution,"
        " r.uid, l.slug AS link_slug, r.decision, r.decided_at, r.error"
        " FROM telegram_join_requests r JOIN telegram_channels c ON c.space_id = r.space_id AND c.chat_id = r.chat_id"
        " LEFT JOIN links l ON l.space_id = r.space_id AND l.id = r.link_id"
        " WHERE r.space_id = %(space_id)s AND (%(attribution)s::text IS NULL OR r.attribution = %(attribution)s)"
        " ORDER BY r.requested_at DESC, r.id DESC LIMIT %(limit)s",
        {"space_id": space_id, "attribution": attribution, "limit": max(1, min(limit, MAX_LIST))},
    ).fetchall()


def find_member_attribution(conn: psycopg.Connection, space_id: int, chat_id: int, user_id: int) -> dict | None:
    """The latest join request of this user in this channel (its uid and link), or None."""
    return conn.execute(
        "SELECT uid, link_id FROM telegram_join_requests WHERE space_id = %(space_id)s AND chat_id = %(chat_id)s"
        " AND user_id = %(user_id)s ORDER BY requested_at DESC LIMIT 1",
        {"space_id": space_id, "chat_id": chat_id, "user_id": user_id},
    ).fetchone()


# --- membership facts ---------------------------------------------------------------------------

def record_member_change(conn: psycopg.Connection, space_id: int, *, chat_id: int, user_id: int, kind: str,
                         at: datetime, uid: str | None, link_id: int | None, update_id: int) -> bool:
    """Log a join or leave and update the member row; False when this update was logged before."""
    member = conn.execute(
        "SELECT uid, link_id, joined_at, is_member FROM telegram_members"
        " WHERE space_id = %(space_id)s AND chat_id = %(chat_id)s AND user_id = %(user_id)s FOR UPDATE",
        {"space_id": space_id, "chat_id": chat_id, "user_id": user_id},
    ).fetchone()
    if member is not None:
        uid = uid or member["uid"]
        link_id = link_id or member["link_id"]
    since = member["joined_at"] if (member is not None and kind == "leave") else None
    logged = conn.execute(
        "INSERT INTO telegram_member_events (space_id, chat_id, user_id, kind, at, uid, link_id, member_since,"
        " update_id) VALUES (%(space_id)s, %(chat_id)s, %(user_id)s, %(kind)s, %(at)s, %(uid)s, %(link_id)s,"
        " %(since)s, %(update_id)s) ON CONFLICT (space_id, chat_id, update_id) DO NOTHING",
        {"space_id": space_id, "chat_id": chat_id, "user_id": user_id, "kind": kind, "at": at, "uid": uid,
         "link_id": link_id, "since": since, "update_id": update_id},
    ).rowcount == 1
    if not logged:
        return False
    conn.execute(
        "INSERT INTO telegram_members AS m (space_id, chat_id, user_id, uid, link_id, joined_at, left_at, is_member)"
        " VALUES (%(space_id)s, %(chat_id)s, %(user_id)s, %(uid)s, %(link_id)s,"
        " CASE WHEN %(join)s THEN %(at)s END, CASE WHEN %(join)s THEN NULL ELSE %(at)s END, %(join)s)"
        " ON CONFLICT (space_id, chat_id, user_id) DO UPDATE SET"
        " uid = coalesce(m.uid, EXCLUDED.uid), link_id = coalesce(m.link_id, EXCLUDED.link_id),"
        " joined_at = CASE WHEN %(join)s THEN %(at)s ELSE m.joined_at END,"
        " left_at = CASE WHEN %(join)s THEN NULL ELSE %(at)s END, is_member = %(join)s",
        {"space_id": space_id, "chat_id": chat_id, "user_id": user_id, "uid": uid, "link_id": link_id,
         "at": at, "join": kind == "join"},
    )
    return True


def link_membership(conn: psycopg.Connection, space_id: int, since: datetime, left_within_days: int,
                    until: datetime | None = None) -> list[dict]:
    """Per link (NULL: unattributed) and channel in [since, until): joins, leaves, net, and leaves within N days of joining."""
    return conn.execute(
        "SELECT e.chat_id, c.title, e.link_id, l.slug AS link_slug, l.name AS link_name,"
        " count(*) FILTER (WHERE e.kind = 'join') AS joins, count(*) FILTER (WHERE e.kind = 'leave') AS leaves,"
        " count(*) FILTER (WHERE e.kind = 'leave' AND e.member_since IS NOT NULL"
        "                  AND e.at - e.member_since <= make_interval(days => %(days)s)) AS left_within"
        " FROM telegram_member_events e"
        " JOIN telegram_channels c ON c.space_id = e.space_id AND c.chat_id = e.chat_id"
        " LEFT JOIN links l ON l.space_id = e.space_id AND l.id = e.link_id"
        " WHERE e.space_id = %(space_id)s AND e.at >= %(since)s AND (%(until)s::timestamptz IS NULL OR e.at < %(until)s)"
        " GROUP BY e.chat_id, c.title, e.link_id, l.slug, l.name ORDER BY joins DESC, l.slug NULLS LAST LIMIT 200",
        {"space_id": space_id, "since": since, "until": until, "days": left_within_days},
    ).fetchall()


def list_member_events_of_uid(conn: psycopg.Connection, space_id: int, uid: str) -> list[dict]:
    """The uid's joins and leaves, oldest first."""
    return conn.execute(
        "SELECT e.chat_id, c.title, e.user_id, e.kind, e.at FROM telegram_member_events e"
        " JOIN telegram_channels c ON c.space_id = e.space_id AND c.chat_id = e.chat_id"
        " WHERE e.space_id = %(space_id)s AND e.uid = %(uid)s ORDER BY e.at, e.id LIMIT 200",
        {"space_id": space_id, "uid": uid},
    ).fetchall()


def list_join_requests_of_uid(conn: psycopg.Connection, space_id: int, uid: str) -> list[dict]:
    """The uid's join requests with their decision, oldest first."""
    return conn.execute(
        "SELECT r.chat_id, c.title, r.user_id, r.requested_at, r.decision, r.decided_at, r.error"
        " FROM telegram_join_requests r JOIN telegram_channels c ON c.space_id = r.space_id AND c.chat_id = r.chat_id"
        " WHERE r.space_id = %(space_id)s AND r.uid = %(uid)s ORDER BY r.requested_at LIMIT 50",
        {"space_id": space_id, "uid": uid},
    ).fetchall()


# --- drip -----------------------------------------------------------------------------------------

def list_drip_steps(conn: psycopg.Connection, space_id: int, chat_id: int) -> list[dict]:
    """The channel's welcome drip, in order."""
    return conn.execute(
        "SELECT position, delay_seconds, text_html, buttons FROM telegram_drip_steps"
        " WHERE space_id = %(space_id)s AND chat_id = %(chat_id)s ORDER BY position",
        {"space_id": space_id, "chat_id": chat_id},
    ).fetchall()


def replace_drip_steps(conn: psycopg.Connection, space_id: int, chat_id: int, steps: list[dict],
                       now: datetime) -> None:
    """Replace the channel's drip with `steps` ({delay_seconds, text_html, buttons}, in order)."""
    conn.execute("DELETE FROM telegram_drip_steps WHERE space_id = %(space_id)s AND chat_id = %(chat_id)s",
                 {"space_id": space_id, "chat_id": chat_id})
    for position, step in enumerate(steps, start=1):
        conn.execute(
            "INSERT INTO telegram_drip_steps (space_id, chat_id, position, delay_seconds, text_html, buttons,"
            " updated_at) VALUES (%(space_id)s, %(chat_id)s, %(position)s, %(delay)s, %(text)s, %(buttons)s, %(now)s)",
            {"space_id": space_id, "chat_id": chat_id, "position": position, "delay": step["delay_seconds"],
             "text": step["text_html"], "buttons": Jsonb(step["buttons"]), "now": now},
        )


def schedule_drip(conn: psycopg.Connection, space_id: int, *, chat_id: int, join_request_id: int, user_id: int,
                  user_chat_id: int, uid: str | None, start: datetime) -> int:
    """Plan the channel's drip for one join request, each step at start + its delay (at least 1 s after the last)."""
    return conn.execute(
        "INSERT INTO telegram_messages (space_id, chat_id, join_request_id, user_id, user_chat_id, uid, position,"
        " text_html, buttons, due_at)"
        " SELECT space_id, chat_id, %(request)s, %(user_id)s, %(user_chat_id)s, %(uid)s, position, text_html, buttons,"
        "        %(start)s + make_interval(secs => greatest(delay_seconds, position - 1))"
        " FROM telegram_drip_steps WHERE space_id = %(space_id)s AND chat_id = %(chat_id)s"
        " ON CONFLICT (space_id, join_request_id, position) DO NOTHING",
        {"space_id": space_id, "chat_id": chat_id, "request": join_request_id, "user_id": user_id,
         "user_chat_id": user_chat_id, "uid": uid, "start": start},
    ).rowcount


def list_due_message_spaces(conn: psycopg.Connection, now: datetime) -> list[int]:
    """Spaces with drip messages due now (each space's bot sends its own)."""
    return [r["space_id"] for r in conn.execute(
        "SELECT DISTINCT space_id FROM telegram_messages WHERE state = 'due' AND due_at <= %(now)s"
        " AND (lease_until IS NULL OR lease_until <= %(now)s) LIMIT 1000", {"now": now}).fetchall()]


def claim_messages(conn: psycopg.Connection, space_id: int, now: datetime, until: datetime,
                   limit: int = 300) -> list[dict]:
    """Lease the space's due messages, earliest first."""
    return conn.execute(
        "UPDATE telegram_messages m SET lease_until = %(until)s, attempts = m.attempts + 1"
        " FROM (SELECT space_id, id FROM telegram_messages WHERE space_id = %(space_id)s AND state = 'due'"
        "       AND due_at <= %(now)s AND (lease_until IS NULL OR lease_until <= %(now)s)"
        "       ORDER BY due_at, id LIMIT %(limit)s FOR UPDATE SKIP LOCKED) due"
        " WHERE m.space_id = due.space_id AND m.id = due.id"
        " RETURNING m.id, m.chat_id, m.join_request_id, m.user_id, m.user_chat_id, m.position, m.text_html,"
        " m.buttons, m.attempts, m.due_at",
        {"space_id": space_id, "now": now, "until": until, "limit": limit},
    ).fetchall()


def finish_message(conn: psycopg.Connection, space_id: int, message_id: int, *, state: str, error: str | None,
                   telegram_message_id: int | None, due_at: datetime | None, now: datetime) -> None:
    """sent / failed / due again at `due_at` (a 429 or a network failure)."""
    conn.execute(
        "UPDATE telegram_messages SET state = %(state)s, error = %(error)s, lease_until = NULL,"
        " sent_at = CASE WHEN %(state)s = 'sent' THEN %(now)s END, message_id = %(mid)s,"
        " due_at = coalesce(%(due)s, due_at) WHERE space_id = %(space_id)s AND id = %(id)s",
        {"space_id": space_id, "id": message_id, "state": state, "error": error, "mid": telegram_message_id,
         "due": due_at, "now": now},
    )


def stop_messages_of_user(conn: psycopg.Connection, space_id: int, user_id: int, reason: str) -> int:
    """Stop every unsent drip message to a person (they blocked the bot or sent /stop)."""
    return conn.execute(
        "UPDATE telegram_messages SET state = 'stopped', error = %(reason)s, lease_until = NULL"
        " WHERE space_id = %(space_id)s AND user_id = %(user_id)s AND state = 'due'",
        {"space_id": space_id, "user_id": user_id, "reason": reason},
    ).rowcount


def resume_messages_of_user(conn: psycopg.Connection, space_id: int, user_id: int, user_chat_id: int,
                            now: datetime) -> int:
    """Make a person's stopped drip messages due again (they sent /start), the first now and the rest as far apart as planned."""
    return conn.execute(
        "UPDATE telegram_messages m SET state = 'due', error = NULL, attempts = 0, lease_until = NULL,"
        " user_chat_id = %(chat)s, due_at = m.due_at + greatest(%(now)s - s.first_due, interval '0')"
        " FROM (SELECT min(due_at) AS first_due FROM telegram_messages WHERE space_id = %(space_id)s"
        "       AND user_id = %(user_id)s AND state = 'stopped') s"
        " WHERE m.space_id = %(space_id)s AND m.user_id = %(user_id)s AND m.state = 'stopped'",
        {"space_id": space_id, "user_id": user_id, "chat": user_chat_id, "now": now},
    ).rowcount


def find_undripped_join_request(conn: psycopg.Connection, space_id: int, user_id: int) -> dict | None:
    """The person's latest join request to a connected channel that has a drip but never got one planned, or None."""
    return conn.execute(
        "SELECT r.id, r.chat_id, r.uid FROM telegram_join_requests r"
        " JOIN telegram_channels c ON c.space_id = r.space_id AND c.chat_id = r.chat_id AND c.connected"
        " WHERE r.space_id = %(space_id)s AND r.user_id = %(user_id)s"
        " AND EXISTS (SELECT 1 FROM telegram_drip_steps d WHERE d.space_id = r.space_id AND d.chat_id = r.chat_id)"
        " AND NOT EXISTS (SELECT 1 FROM telegram_messages m WHERE m.space_id = r.space_id AND m.join_request_id = r.id)"
        " ORDER BY r.requested_at DESC LIMIT 1",
        {"space_id": space_id, "user_id": user_id},
    ).fetchone()


def has_due_messages(conn: psycopg.Connection, now: datetime) -> bool:
    """Whether any drip message is due now."""
    return conn.execute("SELECT EXISTS (SELECT 1 FROM telegram_messages WHERE state = 'due' AND due_at <= %(now)s"
                        " AND (lease_until IS NULL OR lease_until <= %(now)s)) AS due", {"now": now}).fetchone()["due"]


def welcome_pending(conn: psycopg.Connection, space_id: int, join_request_id: int) -> bool:
    """Whether the request's first drip message is still to be sent (approval waits for it)."""
    return conn.execute(
        "SELECT EXISTS (SELECT 1 FROM telegram_messages WHERE space_id = %(space_id)s"
        " AND join_request_id = %(id)s AND position = 1 AND state = 'due') AS pending",
        {"space_id": space_id, "id": join_request_id},
    ).fetchone()["pending"]


def list_messages_of_uid(conn: psycopg.Connection, space_id: int, uid: str) -> list[dict]:
    """The uid's drip messages: step, when due or sent, state and error."""
    return conn.execute(
        "SELECT m.chat_id, c.title, m.position, m.due_at, m.state, m.sent_at, m.error, m.attempts"
        " FROM telegram_messages m JOIN telegram_channels c ON c.space_id = m.space_id AND c.chat_id = m.chat_id"
        " WHERE m.space_id = %(space_id)s AND m.uid = %(uid)s ORDER BY m.due_at, m.position LIMIT 100",
        {"space_id": space_id, "uid": uid},
    ).fetchall()


def drip_counts(conn: psycopg.Connection, space_id: int) -> dict[int, dict]:
    """Per channel: drip messages due, sent, failed and stopped (blocked users)."""
    rows = conn.execute(
        "SELECT chat_id, count(*) FILTER (WHERE state = 'due') AS due, count(*) FILTER (WHERE state = 'sent') AS sent,"
        " count(*) FILTER (WHERE state = 'failed') AS failed, count(*) FILTER (WHERE state = 'stopped') AS stopped"
        " FROM telegram_messages WHERE space_id = %(space_id)s GROUP BY chat_id", {"space_id": space_id}).fetchall()
    return {r["chat_id"]: {k: int(r[k]) for k in ("due", "sent", "failed", "stopped")} for r in rows}


# --- stats ---------------------------------------------------------------------------------------

def save_hour_stats(conn: psycopg.Connection, space_id: int, chat_id: int, hour: datetime,
                    member_count: int | None) -> dict:
    """Write the hour's row: Telegram's count (kept when this call has none) and our log's counts for that hour."""
    return conn.execute(
        "INSERT INTO telegram_channel_stats AS s (space_id, chat_id, hour, member_count, join_requests, approvals,"
        " joins, leaves)"
        " SELECT %(space_id)s, %(chat_id)s, %(hour)s, %(count)s,"
        "  (SELECT count(*) FROM telegram_join_requests WHERE space_id = %(space_id)s AND chat_id = %(chat_id)s"
        "     AND requested_at >= %(hour)s AND requested_at < %(hour)s + interval '1 hour'),"
        "  (SELECT count(*) FROM telegram_join_requests WHERE space_id = %(space_id)s AND chat_id = %(chat_id)s"
        "     AND decision = 'approved' AND decided_at >= %(hour)s AND decided_at < %(hour)s + interval '1 hour'),"
        "  (SELECT count(*) FROM telegram_member_events WHERE space_id = %(space_id)s AND chat_id = %(chat_id)s"
        "     AND kind = 'join' AND at >= %(hour)s AND at < %(hour)s + interval '1 hour'),"
        "  (SELECT count(*) FROM telegram_member_events WHERE space_id = %(space_id)s AND chat_id = %(chat_id)s"
        "     AND kind = 'leave' AND at >= %(hour)s AND at < %(hour)s + interval '1 hour')"
        " ON CONFLICT (space_id, chat_id, hour) DO UPDATE SET member_count = coalesce(EXCLUDED.member_count,"
        " s.member_count), join_requests = EXCLUDED.join_requests, approvals = EXCLUDED.approvals,"
        " joins = EXCLUDED.joins, leaves = EXCLUDED.leaves"
        " RETURNING hour, member_count, join_requests, approvals, joins, leaves",
        {"space_id": space_id, "chat_id": chat_id, "hour": hour, "count": member_count},
    ).fetchone()


def list_hour_stats(conn: psycopg.Connection, space_id: int, chat_id: int, since: datetime,
                    until: datetime | None = None) -> list[dict]:
    """The channel's hourly rows in [since, until), oldest first (at most a year of hours)."""
    return conn.execute(
        "SELECT hour, member_count, join_requests, approvals, joins, leaves FROM telegram_channel_stats"
        " WHERE space_id = %(space_id)s AND chat_id = %(chat_id)s AND hour >= %(since)s"
        " AND (%(until)s::timestamptz IS NULL OR hour < %(until)s) ORDER BY hour LIMIT 8800",
        {"space_id": space_id, "chat_id": chat_id, "since": since, "until": until},
    ).fetchall()
