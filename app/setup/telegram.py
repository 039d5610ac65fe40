"""The Telegram screen: connect the bot, add channels, pool and webhook health, the drip editor,
join requests left for a human or unattributed, and each channel's subscribers (docs/telegram-channel-funnel.md)."""
from datetime import timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, current_app, render_template, request

from app import db
from app.conversion import wake
from app.lib import clock
from app.web.screen import can, done, found, notice, open_space, render_screen
from app.telegram import bots, drip, pool, status as telegram_status, store
from app.web import once, session

bp = Blueprint("setup_telegram", __name__, url_prefix="/spaces/<space>/telegram")
session.register_error_pages(bp)

DONE = {
    "connected": "Bot connected and its webhook registered.",
    "webhook_failed": "Bot connected, but Telegram refused the webhook (see Webhook below).",
    "channel_added": "Channel connected; its per-click invite links are being minted.",
    "approve_on": "Join requests to this channel are approved automatically (after the welcome message).",
    "approve_off": "Join requests to this channel now wait for a human (approve them below).",
    "drip_saved": "Welcome drip saved. It applies to join requests from now on.",
    "approved": "Approval queued: the bot approves the request within seconds.",
    "disconnected": "Bot disconnected: Telegram no longer posts its updates here and its token is forgotten."
                    " Join requests, joins and leaves stay.",
    "disconnected_webhook_failed": "Bot disconnected and its token forgotten, but Telegram refused deleteWebhook:"
                                   " it keeps posting to the old URL, which now answers 401. Call deleteWebhook"
                                   " with the token yourself, or connect the bot again.",
}
CHART_DAYS = 7
DRIP_ROWS = 5


def _chat_id(raw: str) -> int:
    """The route's chat id as a number (a channel's is negative); anything else is a 404."""
    if not raw.lstrip("-").isdigit() or len(raw) > 21:
        found(None, "channel")
    return int(raw)


def _channel_or_404(space_row: dict, chat_id: int) -> dict:
    with db.connection() as conn:
        return found(store.find_channel(conn, space_row["id"], chat_id), "channel")


def subscribers_chart(rows: list[dict], width: int = 640, height: int = 140) -> dict | None:
    """Server-rendered SVG geometry: the member count line and joins (up) / leaves (down) bars per hour."""
    if not rows:
        return None
    counts = [r["member_count"] for r in rows if r["member_count"] is not None]
    low, high = (min(counts), max(counts)) if counts else (0, 1)
    span = max(high - low, 1)
    step = width / max(len(rows) - 1, 1)
    points = [(round(i * step, 1), round(height - 20 - (r["member_count"] - low) / span * (height - 40), 1))
              for i, r in enumerate(rows) if r["member_count"] is not None]
    peak = max([max(r["joins"], r["leaves"]) for r in rows] + [1])
    bars = [{"x": round(i * step, 1), "join": round(r["joins"] / peak * 18, 1), "leave": round(r["leaves"] / peak * 18, 1)}
            for i, r in enumerate(rows)]
    return {"width": width, "height": height, "line": " ".join(f"{x},{y}" for x, y in points), "bars": bars,
            "low": low, "high": high, "first": rows[0]["hour"], "last": rows[-1]["hour"]}


def telegram_context(space_row: dict) -> dict:
    """Everything the screen shows; Telegram itself is asked only by the webhook-health partial."""
    state = telegram_status.status(space_row["id"], ask_telegram=False)
    since = clock.now() - timedelta(days=CHART_DAYS)
    with db.connection() as conn:
        waiting = [r for r in store.list_join_requests(conn, space_row["id"], limit=100) if r["decision"] == "manual"]
        unattributed = store.list_join_requests(conn, space_row["id"], attribution="none", limit=50)
        charts = {c["chat_id"]: subscribers_chart(store.list_hour_stats(conn, space_row["id"], c["chat_id"], since))
                  for c in state["channels"]}
    return {**state, "waiting": waiting, "unattributed": unattributed, "charts": charts,
            "zone": ZoneInfo(space_row["time_zone"]), "chart_days": CHART_DAYS,
            "pool_hours": current_app.config["TELEGRAM_INVITE_UNUSED_HOURS"]}


def _screen(space_row: dict, status: int = 200, **extra):
    return render_screen("telegram/screen.html", space_row, "telegram", status=status,
                         can_manage=can(space_row, "admin"), can_operate=can(space_row, "operator"),
                         **telegram_context(space_row), **{"errors": {}, "values": {}, **extra})


@bp.get("/")
@session.login_required
def show_telegram(space: str):
    """The space's bot, channels, pools, drips, join requests and subscribers."""
    space_row = open_space(space)
    return _screen(space_row, notice=notice(DONE))


@bp.get("/webhook-health")
@session.login_required
def show_webhook_health(space: str):
    """Partial: what Telegram says about the webhook (getWebhookInfo), loaded after the page."""
    space_row = open_space(space)
    state = telegram_status.status(space_row["id"], ask_telegram=True)
    return render_template("telegram/_webhook_health.html", bot=state["bot"], queue=state["queue"])


@bp.post("/bot")
@session.login_required
def connect_bot(space: str):
    """Connect (or replace) the space's bot from its token; the token is never shown again."""
    space_row = open_space(space, "admin")
    try:
        result = bots.connect(space_row["id"], request.form.get("bot_token", ""))
    except (bots.TelegramError, store.BotTaken) as exc:
        return _screen(space_row, status=400, errors={"bot_token": str(exc)})
    return done(".show_telegram", space_row, "webhook_failed" if result.webhook_error else "connected")


@bp.post("/bot/disconnect")
@session.login_required
@once.once
def disconnect_bot(space: str):
    """Disconnect the space's bot (deleteWebhook, token forgotten); its history stays (admin)."""
    space_row = open_space(space, "admin")
    try:
        result = bots.disconnect(space_row["id"])
    except bots.TelegramError:
        found(None, "bot")
    return done(".show_telegram", space_row, "disconnected_webhook_failed" if result.webhook_error else "disconnected")


@bp.post("/channels")
@session.login_required
def add_channel(space: str):
    """Connect a channel after checking the bot's administrator and invite rights."""
    space_row = open_space(space, "admin")
    raw = request.form.get("chat", "").strip()
    try:
        channel = bots.add_channel(space_row["id"], raw)
    except bots.TelegramError as exc:
        return _screen(space_row, status=400, errors={"chat": str(exc)}, values={"chat": raw})
    pool.top_up(current_app._get_current_object(), space_row["id"], channel["chat_id"])
    return done(".show_telegram", space_row, "channel_added")


@bp.post("/channels/<chat_id>/approve")
@session.login_required
def set_approve_switch(space: str, chat_id: str):
    """Turn automatic approval of the channel's join requests on or off."""
    space_row = open_space(space, "admin")
    chat_id = _chat_id(chat_id)
    on = request.form.get("auto_approve") == "on"
    with db.transaction() as conn:
        found(store.find_channel(conn, space_row["id"], chat_id), "channel")
        store.set_auto_approve(conn, space_row["id"], chat_id, on)
    return done(".show_telegram", space_row, "approve_on" if on else "approve_off")


def _drip_form(space_row: dict, channel: dict, rows: list[dict], errors: dict, status: int = 200):
    # Room for one more step than saved (at least DRIP_ROWS rows), never beyond MAX_STEPS.
    wanted = min(max(DRIP_ROWS, len(rows) + 1), drip.MAX_STEPS)
    rows = rows + [{"delay": "", "text": "", "buttons": ""} for _ in range(wanted - len(rows))]
    return render_screen("telegram/drip.html", space_row, "telegram", status=status, channel=channel, rows=rows,
                         errors=errors, can_manage=can(space_row, "admin"), max_steps=drip.MAX_STEPS)


@bp.get("/channels/<chat_id>/drip")
@session.login_required
def edit_drip(space: str, chat_id: str):
    """The channel's welcome drip: one row per message (delay, HTML text, URL buttons)."""
    space_row = open_space(space)
    chat_id = _chat_id(chat_id)
    channel = _channel_or_404(space_row, chat_id)
    with db.connection() as conn:
        steps = store.list_drip_steps(conn, space_row["id"], chat_id)
    rows = [{"delay": drip.format_delay(s["delay_seconds"]), "text": s["text_html"],
             "buttons": drip.format_buttons(s["buttons"])} for s in steps]
    return _drip_form(space_row, channel, rows, {})


@bp.post("/channels/<chat_id>/drip")
@session.login_required
def save_drip(space: str, chat_id: str):
    """Replace the channel's drip; a refused row is shown with its reason and nothing is saved."""
    space_row = open_space(space, "admin")
    chat_id = _chat_id(chat_id)
    channel = _channel_or_404(space_row, chat_id)
    form = request.form
    count = min(int(form.get("rows", "0") or 0) if (form.get("rows") or "0").isdigit() else 0, drip.MAX_STEPS + 5)
    rows = [{"delay": form.get(f"delay-{n}", ""), "text": form.get(f"text-{n}", ""),
             "buttons": form.get(f"buttons-{n}", "")} for n in range(1, count + 1)]
    steps, errors = drip.parse_steps(rows)
    if errors:
        return _drip_form(space_row, channel, rows, errors, status=400)
    with db.transaction() as conn:
        store.replace_drip_steps(conn, space_row["id"], chat_id, steps, clock.now())
    return done(".show_telegram", space_row, "drip_saved")


@bp.post("/requests/<int:id>/approve")
@session.login_required
def approve_request(space: str, id: int):
    """Approve a join request that waits for a human (or failed): the bot approves it within seconds."""
    space_row = open_space(space, "operator")
    with db.transaction() as conn:
        if not store.approve_manually(conn, space_row["id"], id, clock.now()):
            found(None, "waiting join request")
    wake.nudge(current_app._get_current_object(), wake.TELEGRAM)
    return done(".show_telegram", space_row, "approved")


@bp.get("/deck-panel")
@session.login_required
def show_deck_panel(space: str):
    """Partial for the deck: each channel's subscribers over the deck's range and joins and leaves by link."""
    from app.reporting.filters import FilterError, parse_filters
    space_row = open_space(space)
    try:
        filters = parse_filters(request.args, space_row["time_zone"], clock.now())
    except FilterError as exc:
        abort(400, description=str(exc))
    days = current_app.config["TELEGRAM_LEFT_WITHIN_DAYS"]
    with db.connection() as conn:
        channels = store.list_channels(conn, space_row["id"])
        charts = {c["chat_id"]: subscribers_chart(store.list_hour_stats(conn, space_row["id"], c["chat_id"],
                                                                        filters.start, filters.end), width=480)
                  for c in channels}
        links = store.link_membership(conn, space_row["id"], filters.start, days, until=filters.end)
    return render_template("telegram/_deck_channels.html", space=space_row, channels=channels, charts=charts,
                           links=links, left_within_days=days, filters=filters)
