"""The deck's live feed frames: how a feed message becomes HTML on the process's live hub (app/live.py).

For a message of a space that has viewers the frame is rendered once (a short database read for
the row's link and country, or the event's delivery badges) and put on each viewer's queue.
Frames are HTML for the htmx ws/sse extensions: hx-swap-oob elements that prepend a feed row or
replace badges; `data-signal` tells the page which widgets to refresh (debounced in deck.js).
"""
from flask import render_template

from app import db
from app.dashboard import context, store
from app.live import Listener


def deliver_frames(items: list[tuple[int, dict, list[Listener]]]) -> None:
    """The deck's renderer on the live hub: each feed message rendered once, queued for the viewers of its link."""
    frames = render_frames([(space_id, message) for space_id, message, _ in items])
    for (_, _, viewers), (link, frame) in zip(items, frames):
        if frame is None:
            continue
        for viewer in viewers:
            if viewer.link is None or viewer.link == link:
                viewer.put(frame)


def _event_id(message: dict) -> int | None:
    try:
        return int(message.get("inbox_id"))
    except (TypeError, ValueError):
        return None


def render_frames(messages: list[tuple[int, dict]]) -> list[tuple[str | None, str | None]]:
    """(link of the row, HTML frame) per (space_id, message); frame None when there is nothing to show.

    One read fetches every event row of the batch and one every badge set.
    """
    event_keys = [(s, _event_id(m)) for s, m in messages if m.get("type") == "event" and _event_id(m) is not None]
    badge_keys = [(s, _event_id(m)) for s, m in messages if m.get("type") == "delivery" and _event_id(m) is not None]
    with db.connection() as conn:
        rows = {(r["space_id"], r["id"]): r for r in store.list_pushed_rows(conn, event_keys)}
        badges: dict[tuple[int, int], list[dict]] = {key: [] for key in badge_keys}
        for badge in store.list_pushed_badges(conn, badge_keys):
            badges[(badge["space_id"], badge["event_id"])].append(badge)
    frames: list[tuple[str | None, str | None]] = []
    for space_id, message in messages:
        kind, event_id = message.get("type"), _event_id(message)
        if kind == "event" and (space_id, event_id) in rows:
            row = rows[(space_id, event_id)]
            shown = context.feed_row(row, row["badges"], row["time_zone"])
            frames.append((shown["link"] or None, render_template("dashboard/_feed_push.html", row=shown)))
        elif kind == "delivery" and (space_id, event_id) in badges:
            frames.append((None, render_template("dashboard/_badges_push.html", event_id=event_id,
                                                 badges=badges[(space_id, event_id)])))
        elif kind == "bind" and message.get("backfilled"):
            frames.append((None, '<div id="xt-signal" hx-swap-oob="true" data-signal="event"></div>'))
        else:
            frames.append((None, None))
    return frames


def rows_frame(rows: list[dict]) -> str:
    """The frame that replaces the whole list (sent when a socket opens: reconnects catch up)."""
    return render_template("dashboard/_feed_rows.html", rows=rows)
