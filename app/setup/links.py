"""The links screen: create, edit, archive; landing URLs and deep links (docs/links.md)."""
from dataclasses import asdict
from datetime import timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, request

from app import db
from app.landing.views import forget_link
from app.lib import clock
from app.link import store
from app.link.rows import Link
from app.link.parse import CAMPAIGN_DEFAULT_FIELDS, KINDS, MODES, parse_link_fields, reserved_slugs
from app.link.urls import SAMPLE_UID, landing_urls, sample_deep_link, verified_hosts
from app.reporting import store as reporting
from app.telegram import pool as telegram_pool
from app.web.screen import can, done, found, not_found, notice, open_space, render_screen
from app.web import once, session

bp = Blueprint("setup_links", __name__, url_prefix="/spaces/<space>/links")
session.register_error_pages(bp)

DONE = {
    "created": "Link created. Its landing answers now; put the landing URL in your ad.",
    "saved": "Link saved.",
    "archived": "Link archived: its landing answers 404 and records no clicks. Its slug stays reserved.",
    "restored": "Link restored: its landing answers again.",
}
RECENT_DAYS = 7
KIND_LABELS = {"bot": "Telegram bot", "channel": "Telegram channel", "web": "Web page"}
MODE_LABELS = {"page": "Page: opens the target at once, with a button as fallback", "redirect": "302 redirect"}
KIND_OPTIONS = [(kind, KIND_LABELS[kind]) for kind in KINDS]
MODE_OPTIONS = [(mode, MODE_LABELS[mode]) for mode in MODES]


def links_context(space: dict) -> dict:
    """Everything the list shows: live and archived links with their URLs, and clicks of the last 7 days."""
    today = clock.now().astimezone(ZoneInfo(space["time_zone"])).date()
    with db.connection() as conn:
        rows = store.list_links(conn, space["id"])
        hosts = verified_hosts(conn, space["id"])
        live_slugs = [row.slug for row in rows if row.archived_at is None]
        clicks = {}
        if live_slugs:
            reporting.fold(conn, space["id"])
            clicks = store.count_clicks_by_link(conn, space["id"], live_slugs,
                                                today - timedelta(days=RECENT_DAYS - 1), today)
    # The template's rows: each link as a dict, with its URLs and recent clicks beside its columns.
    links = [{**asdict(row), **landing_urls(row, hosts), "deep_link": sample_deep_link(row),
              "clicks": clicks.get(row.slug, 0)} for row in rows]
    return {"links": [link for link in links if link["archived_at"] is None],
            "archived": [link for link in links if link["archived_at"] is not None],
            "hosts": hosts, "sample_uid": SAMPLE_UID, "recent_days": RECENT_DAYS,
            "time_zone": ZoneInfo(space["time_zone"])}


@bp.get("/")
@session.login_required
def show_links(space: str):
    """Every link of the space with its landing URLs, deep link and recent clicks."""
    space_row = open_space(space)
    return render_screen("setup/links/list.html", space_row, "links", notice=notice(DONE),
                         can_manage=can(space_row, "admin"), **links_context(space_row))


def _submitted() -> dict:
    """The form as typed (for re-rendering) and as fields for parse_link_fields."""
    form = request.form
    values = {name: form.get(name, "").strip() for name in ("slug", "name", "kind", "target", "mode",
                                                            *CAMPAIGN_DEFAULT_FIELDS)}
    values["emit_contact"] = form.get("emit_contact") == "on"
    return values


def _fields(values: dict, slug: str) -> dict:
    return {"slug": slug, "name": values["name"], "kind": values["kind"], "target": values["target"],
            "mode": values["mode"], "emit_contact": values["emit_contact"],
            "campaign_defaults": {name: values[name] for name in CAMPAIGN_DEFAULT_FIELDS}}


def _form(space_row: dict, values: dict, errors: dict, link: Link | None = None, status: int = 200):
    return render_screen("setup/links/form.html", space_row, "links", status=status, values=values, errors=errors,
                         link=link, kinds=KIND_OPTIONS, modes=MODE_OPTIONS, default_fields=CAMPAIGN_DEFAULT_FIELDS,
                         public_url=current_app.config["PUBLIC_URL"])


def _values_of(link: Link) -> dict:
    return {"slug": link.slug, "name": link.name, "kind": link.kind, "target": link.target,
            "mode": link.mode, "emit_contact": link.emit_contact,
            **{name: link.campaign_defaults.get(name, "") for name in CAMPAIGN_DEFAULT_FIELDS}}


@bp.get("/new")
@session.login_required
def new_link(space: str):
    """The empty link form."""
    space_row = open_space(space, "admin")
    values = {name: "" for name in ("slug", "name", "target", *CAMPAIGN_DEFAULT_FIELDS)}
    return _form(space_row, {**values, "kind": "bot", "mode": "page", "emit_contact": True}, {})


@bp.post("/new")
@session.login_required
@once.once
def create_link(space: str):
    """Validate as the CLI does (app/link/parse), save, and go back to the list."""
    space_row = open_space(space, "admin")
    values = _submitted()
    reserved = reserved_slugs(rule.rule for rule in current_app.url_map.iter_rules())
    link_in, errors = parse_link_fields(_fields(values, values["slug"]), reserved)
    if not errors:
        with db.connection() as conn:
            unconnected = telegram_pool.unconnected_channel_error(conn, space_row["id"], link_in.kind, link_in.target)
        errors = {"target": unconnected} if unconnected else {}
    if errors:
        return _form(space_row, values, errors, status=400)
    try:
        with db.transaction() as conn:
            link = store.create_link(conn, space_row["id"], link_in, clock.now())
    except store.SlugTaken:
        with db.connection() as conn:
            own = store.find_link_by_slug(conn, space_row["id"], link_in.slug)
        reason = ("an archived link of this space keeps this slug; restore that link or choose another slug"
                  if own is not None and own.archived_at is not None
                  else "this slug is already used by another link; choose another")
        return _form(space_row, values, {"slug": reason}, status=400)
    forget_link(link)
    telegram_pool.link_saved(current_app._get_current_object(), link)
    return done(".show_links", space_row, "created")


def _link_or_404(space_row: dict, slug: str) -> Link:
    with db.connection() as conn:
        return found(store.find_link_by_slug(conn, space_row["id"], slug), "link")


@bp.get("/<slug>/edit")
@session.login_required
def edit_link(space: str, slug: str):
    """The link's form, filled in; the slug is shown but cannot change."""
    space_row = open_space(space, "admin")
    link = _link_or_404(space_row, slug)
    return _form(space_row, _values_of(link), {}, link=link)


@bp.post("/<slug>/edit")
@session.login_required
def update_link(space: str, slug: str):
    """Save every field but the slug (running ads already point at it)."""
    space_row = open_space(space, "admin")
    link = _link_or_404(space_row, slug)
    values = {**_submitted(), "slug": link.slug}
    # The slug is already saved: it is neither re-checked against today's routes nor changeable.
    link_in, errors = parse_link_fields(_fields(values, link.slug), frozenset())
    if not errors:
        with db.connection() as conn:
            unconnected = telegram_pool.unconnected_channel_error(conn, space_row["id"], link_in.kind, link_in.target)
        errors = {"target": unconnected} if unconnected else {}
    if errors:
        return _form(space_row, values, errors, link=link, status=400)
    with db.transaction() as conn:
        saved = store.update_link(conn, space_row["id"], link.slug, link_in, clock.now())
    forget_link(saved)
    telegram_pool.link_saved(current_app._get_current_object(), saved)
    return done(".show_links", space_row, "saved")


def _set_archived(space: str, slug: str, archived: bool):
    space_row = open_space(space, "admin")
    try:
        with db.transaction() as conn:
            link = store.set_link_archived(conn, space_row["id"], slug, archived, clock.now())
    except store.NotFound:
        not_found("link")
    forget_link(link)
    return done(".show_links", space_row, "archived" if archived else "restored")


@bp.post("/<slug>/archive")
@session.login_required
def archive_link(space: str, slug: str):
    """Stop the landing (404, no click); clicks and reports stay, the slug stays taken."""
    return _set_archived(space, slug, True)


@bp.post("/<slug>/restore")
@session.login_required
def restore_link(space: str, slug: str):
    """Serve an archived link's landing again."""
    return _set_archived(space, slug, False)
