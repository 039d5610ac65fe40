"""Ready-to-paste integration code and postback URLs for a space's keys page (pure functions, docs/keys.md).

Nothing here reads the database or the request: the view passes the base URL (PUBLIC_URL) and the
secrets it may show, and gets text back. A secret that is not known (it is stored only as a digest)
is replaced by a shell variable in curl (`$XT_BEARER`, `$XT_INGEST_TOKEN`), by an environment lookup
in Python, and by the word `XT_INGEST_TOKEN` in postback URLs, so every snippet stays valid code.
"""
import json
import re
import shlex
from dataclasses import dataclass, field
from typing import Mapping
from urllib.parse import quote

from app.conversion.events import CANONICAL_EVENTS, Rejection, check_currency, check_eid, check_uid, check_value
from app.lib import placeholders

BEARER_VAR = "XT_BEARER"
INGEST_VAR = "XT_INGEST_TOKEN"
# The placeholder put in a postback URL when the ingest token is not at hand: plain letters, so it
# survives pasting and is refused by GET /e (401) rather than mistaken for a real token.
URL_TOKEN_PLACEHOLDER = "XT_INGEST_TOKEN"

# Shaped like the uids the landing mints (22 URL-safe characters), so the examples pass validation.
EXAMPLE_UID = "Hq3vX9TfK2mWn8pLr5sYbA"
EXAMPLE_TG_ID = 555123

MACRO_FIELDS = ("uid", "value", "currency", "eid")
MAX_FIELD_LENGTH = 200
# A network macro: {click_id}, [txid] or %TXID% (app/lib/placeholders.py, the rule GET /e refuses by).
MACRO_RE = placeholders.NAMED_PLACEHOLDER_RE
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_STRAY_RE = re.compile(r"[{}\[\]]")
_UID_PART_RE = re.compile(r"[A-Za-z0-9_-]*")


@dataclass(frozen=True)
class Snippet:
    """One block of ready-to-paste text; `filled` is False when a secret in it is a placeholder."""
    id: str
    title: str
    text: str
    filled: bool
    note: str = ""


def _double_quoted(text: str, variables: Mapping[str, str] = {}) -> str:
    """`text` as a bash double-quoted word; each key of `variables` in it becomes a `$VAR` expansion."""
    escaped = re.sub(r'([\\"$`])', r"\\\1", text)
    for marker, name in variables.items():
        escaped = escaped.replace(marker, "$" + name)
    return f'"{escaped}"'


def _auth_header(bearer: str | None) -> str:
    if bearer:
        return shlex.quote(f"Authorization: Bearer {bearer}")
    return _double_quoted("Authorization: Bearer \0", {"\0": BEARER_VAR})


def _get_url(base_url: str, path: str, token: str | None, params: list[tuple[str, str]]) -> str:
    query = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in params)
    if token:
        return shlex.quote(f"{base_url}{path}?token={quote(token, safe='')}&{query}")
    return _double_quoted(f"{base_url}{path}?token=\0&{query}", {"\0": INGEST_VAR})


def _curl_post(base_url: str, path: str, bearer: str | None, body: dict) -> str:
    payload = json.dumps(body, separators=(",", ":"))
    return (f"curl -sS -X POST {shlex.quote(base_url + path)} \\\n"
            f"  -H {_auth_header(bearer)} -H 'Content-Type: application/json' \\\n"
            f"  -d {shlex.quote(payload)}")


def curl_snippets(base_url: str, bearer: str | None = None, ingest: str | None = None,
                  link_slug: str | None = None) -> list[Snippet]:
    """curl for every ingress endpoint: POST /events (a deposit), /bind, /clicks, then GET /e and GET /bind.

    The events are marked as tests (recorded and shown, never counted); the click names `link_slug`, a
    real link of the space (without one it counts under "no link").
    """
    click = {"fbclid": "IwAR2xQ7kLm9", "campaign_name": "spring-promo",
             "raw_query": "utm_source=facebook&utm_medium=paid&utm_campaign=spring-promo"}
    if link_slug:
        click = {"link_slug": link_slug, **click}
    posts = [
        ("curl-events", "POST /events: record a test deposit",
         "/events", {"uid": EXAMPLE_UID, "event": "deposit", "value": "25.00", "currency": "USD", "eid": "dep-7781",
                     "test": True},
         "Answers {\"ok\": true, \"status\": \"queued\"}; the same eid again answers \"duplicate\"."
         " \"test\": true keeps it off the deck and out of reports; leave it out for real events."),
        ("curl-bind", "POST /bind: bind a click uid to a Telegram user",
         "/bind", {"uid": EXAMPLE_UID, "tg_id": EXAMPLE_TG_ID},
         "Answers {\"ok\": true, \"matched\": …}; matched is true when a click with that uid exists."),
        ("curl-clicks", "POST /clicks: back-fill a click that did not come through a landing",
         "/clicks", click,
         "Answers {\"ok\": true, \"uid\": \"…\"}: put that uid in the deep link as start=fb_<uid>."
         + ("" if link_slug else " Add \"link_slug\" with a link of this space to count it under that link.")),
    ]
    snippets = [Snippet(id_, title, _curl_post(base_url, path, bearer, body), filled=bool(bearer), note=note)
                for id_, title, path, body, note in posts]
    gets = [
        ("curl-e", "GET /e: the same test deposit as a header-less postback", "/e",
         [("event", "deposit"), ("uid", EXAMPLE_UID), ("value", "25.00"), ("currency", "USD"), ("eid", "dep-7782"),
          ("test", "1")],
         "Same effect and answer as POST /events; test=1 marks it as a test (drop it for real postbacks)."),
        ("curl-bind-get", "GET /bind: header-less bind", "/bind",
         [("uid", EXAMPLE_UID), ("tg", str(EXAMPLE_TG_ID))],
         "Answers {\"ok\": true, \"matched\": …}."),
    ]
    snippets += [Snippet(id_, title, f"curl -sS {_get_url(base_url, path, ingest, params)}", filled=bool(ingest),
                         note=note)
                 for id_, title, path, params, note in gets]
    return snippets


def python_client(base_url: str, bearer: str | None = None) -> Snippet:
    """The integration guide's async client (httpx only) with TRACKER and BEARER filled in."""
    if bearer:
        imports, secret = "import httpx, time", json.dumps(bearer)
    else:
        imports, secret = "import httpx, os, time", f'os.environ["{BEARER_VAR}"]'
    text = f'''{imports}

TRACKER = {json.dumps(base_url)}
BEARER = {secret} # server-side only

async def send_event(event, *, uid=None, value=None, currency=None, eid=None):
    payload = {{"event": event, "occurred_at_ms": int(time.time() * 1000)}}
    if uid: payload["uid"] = uid
    if value is not None: payload["value"] = str(value)
    if currency: payload["currency"] = currency
    if eid: payload["eid"] = eid
    async with httpx.AsyncClient(timeout=5) as c:
        r = await c.post(f"{{TRACKER}}/events", json=payload,
                         headers={{"Authorization": f"Bearer {{BEARER}}"}})
    return r.json() # {{"ok": true, "status": "queued" | "duplicate"}}

async def bind(uid, tg_id):
    async with httpx.AsyncClient(timeout=5) as c:
        r = await c.post(f"{{TRACKER}}/bind", json={{"uid": uid, "tg_id": tg_id}},
                         headers={{"Authorization": f"Bearer {{BEARER}}"}})
    return r.json()

# The funnel, in order (uid comes from /start fb_<uid>):
#   await bind(uid, message.from_user.id)
#   await send_event("subscribed", uid=uid)
#   await send_event("registration", uid=uid, eid=str(trader_id))
#   await send_event("deposit", uid=uid, value="25.00", currency="USD", eid=f"dep-{{transaction_id}}")
'''
    note = "" if bearer else f"Reads the bearer secret from the {BEARER_VAR} environment variable."
    return Snippet("python-client", "Python: the async client (httpx)", text, filled=bool(bearer), note=note)


# ---------------------------------------------------------------------------------------------
# Postback URL builder


@dataclass(frozen=True)
class Trigger:
    """A conversion a network reports, the canonical event it becomes, and the macros it pre-fills."""
    key: str
    label: str
    event: str
    fields: Mapping[str, str]


@dataclass(frozen=True)
class Preset:
    """A partner network: the postbacks it fires and the macro names it substitutes."""
    key: str
    label: str
    triggers: tuple[Trigger, ...]
    note: str

    def trigger(self, key: str) -> Trigger | None:
        """The trigger named `key`, or None."""
        return next((t for t in self.triggers if t.key == key), None)


_PO_UID = "{click_id}"
_GENERIC = {"uid": "{clickid}", "eid": "{txid}"}
_GENERIC_DEPOSIT = {**_GENERIC, "value": "{payout}", "currency": "{currency}"}

PRESETS: dict[str, Preset] = {p.key: p for p in (
    Preset("pocket_option", "Pocket Option", (
        Trigger("registration", "Registration", "registration", {"uid": _PO_UID, "eid": "{trader_id}"}),
        Trigger("first_deposit", "First deposit (FTD)", "deposit",
                {"uid": _PO_UID, "value": "{sumdep}", "currency": "USD", "eid": "ftd-{trader_id}"}),
        Trigger("repeat_deposit", "Every deposit", "deposit",
                {"uid": _PO_UID, "value": "{sumdep}", "currency": "USD", "eid": "dep-{trader_id}-{sumdep}"}),
    ), "{click_id} is the uid your referral link carried, {trader_id} the trader's account id, {sumdep} the"
       " deposit amount. Set currency to the one your affiliate cabinet reports amounts in. For every-deposit"
       " postbacks, prefer a macro that identifies the deposit itself in eid if your settings offer one:"
       " two deposits of the same amount by one trader share dep-{trader_id}-{sumdep}."),
    Preset("generic", "Generic network", tuple(
        Trigger(e, e.capitalize(), e, _GENERIC_DEPOSIT if e == "deposit" else _GENERIC) for e in CANONICAL_EVENTS
    ), "Common macro names: {clickid} for the click id you passed (the uid), {txid} for the conversion id,"
       " {payout} for the amount, {currency} for its code. Replace them with the names your network uses."),
    Preset("custom", "Custom", tuple(
        Trigger(e, e.capitalize(), e, {}) for e in CANONICAL_EVENTS
    ), "Type each field: a macro your network substitutes ({name}, [name] or %NAME%), fixed text, or both."),
)}
DEFAULT_PRESET, DEFAULT_TRIGGER = "pocket_option", "first_deposit"


@dataclass
class Builder:
    """The builder form's state and its result: the URL, or per-field errors; warnings never block."""
    preset: Preset | None
    trigger: Trigger | None
    fields: dict[str, str]
    url: str | None = None
    errors: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def applied(self) -> str:
        """What the macro fields were last filled for; a change of preset or trigger re-fills them."""
        return f"{self.preset.key}/{self.trigger.key}" if self.preset and self.trigger else ""

    @property
    def uses_value(self) -> bool:
        """Whether value and currency belong in the URL (only deposits carry money)."""
        return self.trigger is not None and self.trigger.event == "deposit"


def _encode(text: str) -> str:
    """Percent-encode `text` as a query value, leaving its macros as they are for the network to replace."""
    out, last = [], 0
    for match in MACRO_RE.finditer(text):
        out += [quote(text[last:match.start()], safe=""), match.group()]
        last = match.end()
    out.append(quote(text[last:], safe=""))
    return "".join(out)


def postback_url(base_url: str, token: str | None, event: str, fields: Mapping[str, str]) -> str:
    """The GET /e URL for `event` with the given fields (empty ones left out); macros stay unencoded."""
    params = [("token", quote(token, safe="") if token else URL_TOKEN_PLACEHOLDER), ("event", quote(event, safe=""))]
    params += [(name, _encode(fields[name])) for name in MACRO_FIELDS if fields.get(name)]
    return f"{base_url}/e?" + "&".join(f"{name}={value}" for name, value in params)


_CHECKS = {"uid": check_uid, "value": check_value, "currency": check_currency, "eid": check_eid}


def _check_field(name: str, text: str) -> str | None:
    """Why `text` cannot go into the URL's `name` parameter, or None when it can."""
    if len(text) > MAX_FIELD_LENGTH or _CONTROL_RE.search(text):
        return f"at most {MAX_FIELD_LENGTH} printable characters"
    macros = MACRO_RE.findall(text)
    literal = MACRO_RE.sub("", text)
    if _STRAY_RE.search(literal):
        return "a macro is written {name}, [name] or %NAME% (letters, digits, _ . : -)"
    if not macros:
        try:
            _CHECKS[name](text)
        except Rejection as exc:
            return exc.reason
        if name == "eid":
            return ("a fixed eid makes every postback after the first a duplicate; include the network's"
                    " macro for the conversion id")
        return None
    if name in ("value", "currency") and literal:
        return f"{name} must be a single macro or a fixed {'amount' if name == 'value' else 'code'}"
    if name == "uid" and not _UID_PART_RE.fullmatch(literal):
        return "text around the macro may only use A-Z a-z 0-9 _ -"
    return None


def _known_trigger_keys() -> set[str]:
    return {t.key for p in PRESETS.values() for t in p.triggers}


def build_postback(form: Mapping[str, str], base_url: str, token: str | None) -> Builder:
    """Compose the GET /e URL from the builder form.

    1. The preset must be known. 2. The event must be one of its triggers; after a preset switch a
       trigger of the old preset maps to the new preset's trigger for the same canonical event.
    3. When preset or trigger differ from what the fields were filled for (`applied`), a preset
       re-fills the macro fields; Custom keeps what was typed. 4. Each field is checked (fixed text
       as GET /e would check it). 5. No errors: the URL, plus warnings about what it will record.
    """
    preset = PRESETS.get(form.get("preset", ""))
    fields = {name: (form.get(name) or "").strip() for name in MACRO_FIELDS}
    if preset is None:
        return Builder(None, None, fields, errors={
            "preset": "unknown preset: choose " + ", ".join(p.label for p in PRESETS.values())})
    key = form.get("event", "")
    applied_preset = (form.get("applied") or "").partition("/")[0]
    trigger = preset.trigger(key)
    if trigger is None:
        if key in _known_trigger_keys() and applied_preset != preset.key:
            canonical = next((t.event for p in PRESETS.values() for t in p.triggers if t.key == key), "")
            trigger = next((t for t in preset.triggers if t.event == canonical), preset.triggers[0])
        else:
            return Builder(preset, None, fields, errors={
                "event": f"{preset.label} postbacks are: " + ", ".join(t.label for t in preset.triggers)})
    builder = Builder(preset, trigger, fields)
    if preset.key != "custom" and form.get("applied") != builder.applied:
        builder.fields = {name: trigger.fields.get(name, "") for name in MACRO_FIELDS}
    used = [name for name in MACRO_FIELDS if builder.uses_value or name not in ("value", "currency")]
    for name in used:
        if builder.fields[name]:
            problem = _check_field(name, builder.fields[name])
            if problem:
                builder.errors[name] = problem
    if builder.errors:
        return builder
    builder.url = postback_url(base_url, token, trigger.event, {name: builder.fields[name] for name in used})
    builder.warnings = _warnings(builder)
    return builder


def _warnings(builder: Builder) -> list[str]:
    fields = builder.fields
    warnings = []
    if not fields["uid"]:
        warnings.append("No uid: the event is recorded but cannot join a click's journey.")
    elif not MACRO_RE.search(fields["uid"]):
        warnings.append("The uid is fixed text: every postback lands on the same journey.")
    if builder.uses_value and not fields["value"]:
        warnings.append("No value: deposits are counted but do not move revenue.")
    if not fields["eid"]:
        warnings.append("No eid: a re-fired postback is counted again (each gets its receive time).")
    return warnings


def ready_postbacks(base_url: str, token: str | None) -> list[Snippet]:
    """Every trigger of the named presets as a finished postback URL."""
    snippets = []
    for preset in PRESETS.values():
        if preset.key == "custom":
            continue
        for trigger in preset.triggers:
            if preset.key == "generic" and trigger.event not in ("registration", "deposit"):
                continue
            url = postback_url(base_url, token, trigger.event, trigger.fields)
            snippets.append(Snippet(f"postback-{preset.key}-{trigger.key}".replace("_", "-"),
                                    f"{preset.label}: {trigger.label}", url, filled=bool(token)))
    return snippets
