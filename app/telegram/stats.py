"""Hourly channel stats: Telegram's member count beside our own log's join requests, approvals, joins and leaves."""
import logging
from datetime import datetime, timedelta

from flask import Flask

from app import db
from app.lib import clock
from app.lib.secretbox import SealError
from app.telegram import bots, store
from app.telegram.api import BotApiError

log = logging.getLogger(__name__)


def hour_of(moment: datetime) -> datetime:
    """The start of the UTC hour `moment` falls in."""
    return moment.replace(minute=0, second=0, microsecond=0)


def collect(app: Flask) -> int:
    """For every connected channel: ask getChatMemberCount, then write this hour's row and finish the previous one.

    A failed count (Telegram away, 429) still writes our own counts; the hour's member count is
    filled by the next run that reaches Telegram. Returns how many channels were counted.
    """
    now = clock.now()
    hour = hour_of(now)
    with db.connection() as conn:
        channels = store.list_connected_channels(conn)
    counted = 0
    apis: dict[int, object] = {}
    for channel in channels:
        space_id, chat_id = channel["space_id"], channel["chat_id"]
        count = None
        try:
            if space_id not in apis:
                with db.connection() as conn:
                    apis[space_id] = bots.api_for(app, store.find_bot(conn, space_id))
            count = apis[space_id].get_chat_member_count(chat_id)
        except (BotApiError, SealError) as exc:
            log.warning("getChatMemberCount of channel %s failed: %s", chat_id, exc)
        with db.transaction() as conn:
            if count is not None:
                store.set_member_count(conn, space_id, chat_id, count, now)
                counted += 1
            store.save_hour_stats(conn, space_id, chat_id, hour - timedelta(hours=1), None)
            store.save_hour_stats(conn, space_id, chat_id, hour, count)
    return counted
