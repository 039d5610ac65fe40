"""The landing: GET /<slug> records a click, mints its uid and sends the visitor on.

Host routing happens before every request: the tracker's own hosts (TRACKER_HOSTS and
PUBLIC_URL's host) serve the whole app; a verified custom domain serves only its space's
landings; any other host gets a plain 404. /healthz and /readyz answer on any host so load
balancers can probe by address.
"""
import base64
import hashlib
import hmac
from typing import Any
from urllib.parse import urlsplit

from psycopg_pool import ConnectionPool
from flask import Blueprint, Flask, current_app, g, make_response, redirect, render_template, request
from werkzeug.exceptions import MethodNotAllowed

from app import db, services
from app.conversion.events import EventIn
from app.conversion.clicks import ClickWriter, PendingClick
from app.lib import click_text, clock, proxies, tokens, useragents
from app.lib.group_commit import RowRefused
from app.lib.ttl_cache import TtlCache
from app.lib.geoip import CountryDatabase
from app.lib.proxies import TrustedProxies
from app.link import store as link_store
from app.link.parse import CAMPAIGN_DEFAULT_FIELDS, destination
from app.link.rows import Link
from app.conversion.announce import announce_event
from app.telegram import pool as telegram_pool
from app.web.headers import csp_nonce

bp = Blueprint("landing", __name__)

ANY_HOST_ENDPOINTS = frozenset({"health.show_health", "health.show_readiness"})
COOKIE_NAME = "xt_uid"
FACEBOOK_FIELDS = ("campaign_id", "adset_name", "adset_id", "ad_name", "ad_id")
_NEGATIVE = object()


class Landing:
    """Per-app landing state: host sets, proxy trust, caches, the cookie key and the GeoIP database."""

    def __init__(self, app: Flask, proxies: TrustedProxies, pool: ConnectionPool):
        config = app.config
        public_host = urlsplit(config["PUBLIC_URL"]).hostname or ""
        self.tracker_hosts = frozenset(config["TRACKER_HOSTS"]) | {public_host.lower()}
        self.proxies = proxies
        self.reuse_seconds = config["CLICK_REUSE_MINUTES"] * 60
        self.links = TtlCache(config["LINK_CACHE_SECONDS"])
        self.domains = TtlCache(config["LINK_CACHE_SECONDS"])
        self.cookie_key = hashlib.sha256(b"xtracker landing cookie\0" + config["SECRET_KEY"].encode()).digest()
        self.writer = ClickWriter(pool, writers=config["LANDING_WRITERS"],
                                  batch_max=config["LANDING_BATCH_MAX"])
        self.open_page = app.jinja_env.get_template("landing/open.html")
        self.static_routes: dict[str, frozenset[str]] | None = None
        self.geoip = CountryDatabase(config["GEOIP_DB"]) if config["GEOIP_DB"] else None


def _landing() -> Landing:
    return services.of(current_app).landing


def request_hostname() -> str:
    """The Host header's name, lower case, without port or trailing dot ([::1]:80 → ::1)."""
    host = request.host.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0].rstrip(".") if ":" in host else host.rstrip(".")


def _verified_domain_space(hostname: str) -> int | None:
    state = _landing()
    cached = state.domains.get(hostname)
    if cached is not None:
        return None if cached is _NEGATIVE else cached
    with db.connection() as conn:
        space_id = link_store.find_verified_domain_space(conn, hostname)
    state.domains.put(hostname, _NEGATIVE if space_id is None else space_id)
    return space_id


@bp.before_app_request
def route_host():
    """Tracker hosts pass; a verified custom domain may only reach its landings; others get 404."""
    if request.endpoint in ANY_HOST_ENDPOINTS:
        return None
    hostname = request_hostname()
    if hostname in _landing().tracker_hosts:
        g.landing_space_id = None
        return None
    try:
        space_id = _verified_domain_space(hostname)
    except db.StorageUnavailable:
        return _unavailable()
    if space_id is None or request.endpoint != "landing.show_landing":
        return _not_found()
    g.landing_space_id = space_id
    return None


def _not_found():
    response = make_response(render_template("landing/not_found.html"), 404)
    response.headers["Cache-Control"] = "no-store"
    return response


def _other_route_methods(app: Flask, path: str) -> frozenset[str]:
    """Methods other routes accept at exactly `path` (GET /events must stay a 405, not a landing)."""
    state = _landing()
    if state.static_routes is None:
        routes: dict[str, set[str]] = {}
        for rule in app.url_map.iter_rules():
            if rule.endpoint != "landing.show_landing" and "<" not in rule.rule:
                routes.setdefault(rule.rule, set()).update(rule.methods or ())
        state.static_routes = {path: frozenset(methods) for path, methods in routes.items()}
    return state.static_routes.get(path, frozenset())


def _unavailable():
    response = make_response(render_template("landing/unavailable.html"), 503)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Retry-After"] = "5"
    return response


def _find_link(slug: str, space_id: int | None) -> Link | None:
    state = _landing()
    key = (slug, space_id)
    cached = state.links.get(key)
    if cached is not None:
        return None if cached is _NEGATIVE else cached
    with db.connection() as conn:
        link = link_store.find_landing_link(conn, slug, space_id)
    state.links.put(key, _NEGATIVE if link is None else link)
    return link


def forget_link(link: Link) -> None:
    """Make this process look `link` up afresh on its next landing (after an edit, archive or restore).

    Other web processes see the change once their cached copy expires (LINK_CACHE_SECONDS).
    """
    state = _landing()
    state.links.forget((link.slug, None))
    state.links.forget((link.slug, link.space_id))


def _cookie_signature(link: Link, uid: str, issued_ms: int) -> str:
    message = f"{link.space_id}:{link.id}:{uid}:{issued_ms}".encode()
    digest = hmac.new(_landing().cookie_key, message, hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _reused_uid(link: Link, now_ms: int) -> str | None:
    """The uid of this browser's earlier click on this link, when its signed cookie is still in the window."""
    window = _landing().reuse_seconds
    raw = request.cookies.get(COOKIE_NAME)
    if not window or not raw:
        return None
    uid, _, rest = raw.partition(".")
    issued, _, signature = rest.partition(".")
    if not tokens.UID_RE.fullmatch(uid) or not (issued.isascii() and issued.isdigit()) or len(issued) > 18:
        return None
    if not hmac.compare_digest(signature, _cookie_signature(link, uid, int(issued))):
        return None
    if not 0 <= now_ms - int(issued) < window * 1000:
        return None
    return uid


def _click_fields(link: Link, now_ms: int) -> dict:
    """Everything a click stores from the request: attribution parameters, referrer, agent, address, country.

    Values too long to keep are cut or dropped by app/lib/click_text.py and named in `flags`.
    """
    args, headers, state = request.args, request.headers, _landing()
    flags: list[str] = []
    fields: dict[str, Any] = {"link_id": link.id, "link_slug": link.slug, "flags": flags}
    fbclid = click_text.fit("fbclid", args.get("fbclid"), flags)
    if fbclid is not None:
        fields["fbclid"] = fbclid
        # Meta's fbc format; the fbclid goes in byte for byte (re-casing breaks attribution).
        fields["fbc"] = f"fb.1.{now_ms}.{fbclid}"
    fields["fbp"] = click_text.fit("fbp", request.cookies.get("_fbp"), flags)
    defaults = link.campaign_defaults
    for name in CAMPAIGN_DEFAULT_FIELDS:
        fields[name] = click_text.fit(name, args.get(name), flags) or defaults.get(name)
    for name in FACEBOOK_FIELDS:
        fields[name] = click_text.fit(name, args.get(name), flags)
    fields["raw_query"] = click_text.fit("raw_query", request.query_string.decode("utf-8", "replace"), flags)
    fields["referrer"] = click_text.fit("referrer", headers.get("Referer"), flags)
    fields["user_agent"] = click_text.fit("user_agent", headers.get("User-Agent"), flags)
    fields["client_ip"] = proxies.client_address(request.remote_addr, headers, state.proxies)
    country = proxies.proxy_country(headers, state.proxies.trusts(request.remote_addr))
    if country is None and state.geoip is not None:
        country = state.geoip.country(fields["client_ip"])
    fields["country"] = country
    return fields


def _record_click(link: Link, uid: str, now, fields: dict) -> None:
    """Store the click and, when the link emits it, its contact event (committed together); then announce it."""
    contact = None
    if link.emit_contact:
        # eid = uid: any later contact for this uid with the same eid is a duplicate.
        contact = EventIn(event="contact", uid=uid, tg_id=None, eid=uid, value=None, currency="USD",
                          occurred_at_ms=clock.to_ms(now))
    outcome = _landing().writer.submit(PendingClick(link.space_id, uid, now, fields, contact))
    if outcome is not None and outcome[0]:
        announce_event(link.space_id, outcome[1], contact, uid)


def _channel_invite(link: Link, uid: str | None, now) -> tuple[str | None, str | None]:
    """A channel link naming a connected channel: its per-click invite link and that click's uid (app/telegram/pool.py).

    `now` None: a bot or preview, pointed at the shared link without claiming one. (None, None)
    for other links, or when storage is unavailable (the landing then goes on as for any link).
    """
    if link.kind != "channel":
        return None, None
    try:
        if now is None:
            return telegram_pool.preview_invite(link), None
        return telegram_pool.landing_invite(link, uid, now)
    except db.StorageUnavailable:
        return None, None


def is_a_visit() -> bool:
    """A person's page view: not a bot or link preview, not a HEAD probe, not a speculative prefetch."""
    if request.method != "GET" or useragents.is_bot(request.headers.get("User-Agent")):
        return False
    return not useragents.is_prefetch(request.headers)


def _send_on(link: Link, uid: str | None, url: str | None = None):
    """The page that opens `url` (else the link's destination) at once, button as fallback, or a plain 302."""
    url = url or destination(link.kind, link.target, uid)
    if link.mode == "redirect":
        response = redirect(url, 302)
    else:
        # The compiled template directly: the page needs none of Flask's context processors.
        response = current_app.response_class(_landing().open_page.render(url=url, kind=link.kind, nonce=csp_nonce()),
                                              mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response


def send_on_without_click(slug: str):
    """The landing's answer when no click may be recorded (rate limit): the visitor goes on without a uid."""
    try:
        link = _find_link(slug, g.get("landing_space_id"))
    except db.StorageUnavailable:
        return _unavailable()
    if link is None:
        return _not_found()
    # Like a bot's visit: no uid, and a channel link points at its shared invite without claiming one.
    return _send_on(link, None, _channel_invite(link, None, None)[0])


@bp.get("/<slug>")
def show_landing(slug: str):
    """Record a click and send the visitor on; bots see the page without a uid and mint nothing.

    1. Find the link (any space's on tracker hosts, the domain's space's on a custom domain).
    2. Bots, link previews, HEAD requests and prefetches: the page, no click.
    3. A signed reuse cookie for this link still in its window: the same uid, no new click.
    4. Otherwise mint a uid, store click + contact in one transaction, set the reuse cookie.
    When Postgres is unreachable: a known link still sends the visitor on (without a uid, no
    click); a link that cannot be looked up is a plain 503 page.
    """
    methods = _other_route_methods(current_app, request.path)
    if methods:
        raise MethodNotAllowed(valid_methods=sorted(methods))
    try:
        link = _find_link(slug, g.get("landing_space_id"))
    except db.StorageUnavailable:
        return _unavailable()
    if link is None:
        return _not_found()
    if not is_a_visit():
        return _send_on(link, None, _channel_invite(link, None, None)[0])
    now = clock.now()
    now_ms = clock.to_ms(now)
    uid = _reused_uid(link, now_ms)
    if uid is not None:
        return _send_on(link, uid, _channel_invite(link, uid, now)[0])
    invite_url, uid = _channel_invite(link, None, now)
    uid = uid or tokens.new_uid(now)
    try:
        _record_click(link, uid, now, _click_fields(link, now_ms))
    except db.StorageUnavailable as exc:
        # The ad click is paid for: send the person on even though this click cannot be counted.
        current_app.logger.warning("landing %s: click not recorded, storage unavailable: %s", link.slug, exc)
        return _send_on(link, None, invite_url)
    except RowRefused:
        # This click alone was set aside (counted and logged by its writer); the visitor goes on.
        return _send_on(link, None, invite_url)
    response = _send_on(link, uid, invite_url)
    window = _landing().reuse_seconds
    if window:
        # Written by hand: every character of value and path is cookie-safe ([A-Za-z0-9._-] and
        # the slug's [A-Za-z0-9_-]), so werkzeug's general quoting has nothing to do.
        value = f"{uid}.{now_ms}.{_cookie_signature(link, uid, now_ms)}"
        response.headers.add("Set-Cookie", f"{COOKIE_NAME}={value}; Max-Age={window}; Path=/{link.slug}; HttpOnly;"
                                           f" SameSite=Lax{'; Secure' if request.is_secure else ''}")
    return response
