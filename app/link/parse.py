"""Validating a link before it is saved, and building the URL a click is sent on to.

Each check returns the clean value or raises LinkError with a reason fit to show the operator.
"""
import re
from dataclasses import dataclass, field
from typing import Any, Iterable
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from app.lib.tokens import UID_RE

KINDS = ("bot", "channel", "web")
MODES = ("page", "redirect")
CAMPAIGN_DEFAULT_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term", "campaign_name")
UID_MACRO = "{uid}"
# The query parameter a web target receives the uid in when it has no {uid} macro.
UID_PARAM = "uid"
# A bot deep link carries the uid as `?start=fb_<uid>`; the bot reads it back from `/start fb_<uid>`.
START_PREFIX = "fb_"

# First path segments that belong to the app (now or in its planned routes); a link slug may
# never take one, whatever its case. The live url_map is added to these when a link is saved.
RESERVED_SLUGS = frozenset({
    "", "login", "logout", "spaces", "static", "docs", "healthz", "readyz", "events", "e", "bind", "clicks",
    "api", "ws", "sse", "admin", "favicon.ico", "robots.txt",
})

_SLUG_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_BOT_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]{1,28}[Bb][Oo][Tt]")
_CHANNEL_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]{3,31}")
_INVITE_RE = re.compile(r"\+[A-Za-z0-9_-]{8,64}")
# A channel connected on the Telegram screen, named by its chat id (docs/telegram-channel-funnel.md).
CHAT_ID_RE = re.compile(r"-100[0-9]{5,16}")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f\s]")
MAX_URL = 2048
MAX_DEFAULT = 200


class LinkError(ValueError):
    """A link field is unusable; the message says which and why."""


@dataclass
class LinkIn:
    """A validated link, ready to be written."""
    slug: str
    name: str
    kind: str
    target: str
    mode: str = "page"
    emit_contact: bool = True
    campaign_defaults: dict[str, str] = field(default_factory=dict)


def reserved_slugs(url_rules: Iterable[str]) -> frozenset[str]:
    """RESERVED_SLUGS plus the first static path segment of every route (lower case)."""
    found = set(RESERVED_SLUGS)
    for rule in url_rules:
        first = rule.lstrip("/").split("/", 1)[0]
        if "<" not in first:
            found.add(first.lower())
    return frozenset(found)


def check_slug(raw: Any, reserved: frozenset[str]) -> str:
    """1–64 of [A-Za-z0-9_-], starting with a letter or digit, and not one of the app's own paths."""
    if not isinstance(raw, str) or not _SLUG_RE.fullmatch(raw):
        raise LinkError("slug must be 1-64 characters of A-Z a-z 0-9 _ -, starting with a letter or digit")
    if raw.lower() in reserved:
        raise LinkError(f"slug {raw!r} is taken by the app's own pages (/{raw.lower()}); choose another")
    return raw


def check_name(raw: Any, slug: str) -> str:
    """1–200 printable characters; the slug when absent."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return slug
    if not isinstance(raw, str) or len(raw.strip()) > 200 or re.search(r"[\x00-\x1f\x7f]", raw):
        raise LinkError("name must be 1-200 printable characters")
    return raw.strip()


def check_target(kind: Any, raw: Any) -> tuple[str, str]:
    """The kind and its normalised target: a bot username, a t.me channel URL, or a web URL."""
    if kind not in KINDS:
        raise LinkError(f"kind must be one of {', '.join(KINDS)}")
    if not isinstance(raw, str) or not raw.strip():
        raise LinkError("target is required: " + {
            "bot": "the bot's username, e.g. @my_funnel_bot",
            "channel": "a connected channel's chat id (-100…), or a public link or username, e.g. https://t.me/my_channel",
            "web": "an http(s) URL, e.g. https://example.com/start?click={uid}",
        }[kind])
    text = raw.strip()
    if kind == "bot":
        name = _telegram_name(text)
        if not _BOT_RE.fullmatch(name):
            raise LinkError(f"{text!r} is not a bot username (5-32 of A-Z a-z 0-9 _, ending in 'bot')")
        return kind, name
    if kind == "channel":
        if CHAT_ID_RE.fullmatch(text):
            return kind, text
        name = _telegram_name(text)
        if not (_CHANNEL_NAME_RE.fullmatch(name) or _INVITE_RE.fullmatch(name)):
            raise LinkError(f"{text!r} is not a public channel username or t.me link,"
                            " nor a connected channel's chat id (-100…)")
        return kind, f"https://t.me/{name}"
    if len(text) > MAX_URL or _CONTROL_RE.search(text):
        raise LinkError(f"target must be a URL of at most {MAX_URL} characters without spaces")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise LinkError(f"{text[:80]!r} is not an http(s) URL")
    return kind, text


def _telegram_name(text: str) -> str:
    """`@name`, `t.me/name`, `https://t.me/name` (or telegram.me) → `name`."""
    for prefix in ("https://", "http://"):
        if text.lower().startswith(prefix):
            text = text[len(prefix):]
    for host in ("t.me/", "telegram.me/", "www.t.me/"):
        if text.lower().startswith(host):
            text = text[len(host):]
    return text.lstrip("@").split("?", 1)[0].rstrip("/")


def check_mode(raw: Any) -> str:
    """page (default) or redirect."""
    if raw is None or raw == "":
        return "page"
    if raw not in MODES:
        raise LinkError(f"mode must be one of {', '.join(MODES)}")
    return raw


def check_campaign_defaults(raw: Any) -> dict[str, str]:
    """Only utm_* and campaign_name, each a short printable string."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise LinkError("campaign defaults must be an object")
    clean = {}
    for name, value in raw.items():
        if name not in CAMPAIGN_DEFAULT_FIELDS:
            raise LinkError(f"campaign default {str(name)[:40]!r} is not one of {', '.join(CAMPAIGN_DEFAULT_FIELDS)}")
        if value is None or value == "":
            continue
        if not isinstance(value, str) or len(value) > MAX_DEFAULT or re.search(r"[\x00-\x1f\x7f]", value):
            raise LinkError(f"{name} must be at most {MAX_DEFAULT} printable characters")
        clean[name] = value
    return clean


def parse_link(fields: dict, reserved: frozenset[str]) -> LinkIn:
    """Check every field of a new link; LinkError names the most fundamental problem (slug, kind, target, …)."""
    link, errors = parse_link_fields(fields, reserved)
    if errors:
        raise LinkError(next(iter(errors.values())))
    return link


def parse_link_fields(fields: dict, reserved: frozenset[str]) -> tuple[LinkIn | None, dict[str, str]]:
    """Check every field of a link and collect one reason per failing field (forms show them all).

    Returns (the link, {}) or (None, {field: reason}); the errors are in the order parse_link
    reports them: slug, kind, target, emit_contact, name, mode, then each campaign default
    under its own field name.
    """
    errors: dict[str, str] = {}

    def attempt(name: str, check, *args):
        try:
            return check(*args)
        except LinkError as exc:
            errors[name] = str(exc)
            return None

    slug = attempt("slug", check_slug, fields.get("slug"), reserved)
    kind, target = fields.get("kind"), None
    if kind not in KINDS:
        errors["kind"] = f"kind must be one of {', '.join(KINDS)}"
    else:
        checked = attempt("target", check_target, kind, fields.get("target"))
        target = checked[1] if checked else None
    emit_contact = fields.get("emit_contact", True)
    if not isinstance(emit_contact, bool):
        errors["emit_contact"] = "emit_contact must be true or false"
    name = attempt("name", check_name, fields.get("name"), slug or "")
    mode = attempt("mode", check_mode, fields.get("mode"))
    raw_defaults = fields.get("campaign_defaults")
    defaults: dict[str, str] = {}
    if raw_defaults is not None and not isinstance(raw_defaults, dict):
        errors["campaign_defaults"] = "campaign defaults must be an object"
    else:
        for field_name, value in (raw_defaults or {}).items():
            defaults.update(attempt(str(field_name), check_campaign_defaults, {field_name: value}) or {})
    if errors:
        return None, errors
    return LinkIn(slug=slug, name=name, kind=kind, target=target, mode=mode, emit_contact=emit_contact,
                  campaign_defaults=defaults), {}


def destination(kind: str, target: str, uid: str | None) -> str:
    """Where a visitor is sent: the bot deep link, the channel, or the web URL, carrying `uid` when given.

    Bots get `?start=fb_<uid>` (Telegram allows 64 of [A-Za-z0-9_-], so uids are at most 61).
    Web URLs get the uid through their {uid} macro, else an added `uid` query parameter.
    """
    if kind == "bot":
        return f"https://t.me/{target}" + (f"?start={START_PREFIX}{uid}" if uid else "")
    if kind == "channel":
        return target
    if UID_MACRO in target:
        return target.replace(UID_MACRO, quote(uid or "", safe=""))
    if not uid:
        return target
    parts = urlsplit(target)
    query = f"{parts.query}&{urlencode({UID_PARAM: uid})}" if parts.query else urlencode({UID_PARAM: uid})
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


_HOSTNAME_RE = re.compile(r"(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+")


def check_hostname(raw: Any) -> str:
    """A DNS name with at least one dot (go.example.com), lower-cased; URLs and ports are refused."""
    name = raw.strip().lower().rstrip(".") if isinstance(raw, str) else ""
    if not _HOSTNAME_RE.fullmatch(name) or name.replace(".", "").isdigit():
        raise LinkError(f"{str(raw)[:80]!r} is not a hostname such as go.example.com (no scheme, path or port)")
    return name


def uid_from_start(payload: str) -> str | None:
    """The uid a bot deep link carried (`/start fb_<uid>`), or None when the payload is not one."""
    if not payload.startswith(START_PREFIX):
        return None
    uid = payload[len(START_PREFIX):]
    return uid if UID_RE.fullmatch(uid) else None
