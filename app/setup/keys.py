"""The API keys screen: rotate and reveal once, ready-to-paste code, the postback URL builder (docs/keys.md).

Secrets exist in full only on the page the rotation redirects to, once (app/web/once.py holds them
encrypted until then), and in forms the browser posts back from that page; the database keeps
digests and hints. Every answer of this screen is `no-store`
so a revealed secret never lands in a cache, and secrets travel only in POST bodies, never in URLs.
"""
from datetime import timedelta
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, current_app, make_response, redirect, render_template, request, url_for

from app import db
from app.auth import credentials, store as auth_store
from app.lib import clock
from app.link import store as link_store
from app.setup import snippets
from app.web.screen import notice, open_space, render_screen
from app.web import once, session

bp = Blueprint("setup_keys", __name__, url_prefix="/spaces/<space>/keys")
session.register_error_pages(bp)

SECRETS = {
    "bearer": {"label": "Bearer", "authorises": "POST /events, POST /bind, POST /clicks",
               "travels": "in the Authorization: Bearer header; server-side only", "var": snippets.BEARER_VAR},
    "ingest": {"label": "Ingest token", "authorises": "GET /e and GET /bind (postbacks)",
               "travels": "as ?token= in the URL; lower-trust, for header-less calls only",
               "var": snippets.INGEST_VAR},
}
ROTATE_KINDS = {"bearer": ("bearer",), "ingest": ("ingest",), "both": auth_store.KINDS}
DONE = {
    "space_created": "Space created. Rotate the keys to reveal them and get ready-to-paste code.",
}
MAX_TOKEN_LENGTH = 128


@bp.after_request
def _no_store(response):
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _local_time(moment, time_zone: str) -> str:
    return moment.astimezone(ZoneInfo(time_zone)).strftime("%Y-%m-%d %H:%M %Z")


def _secret_rows(space: dict) -> list[dict]:
    """Each kind with its live secret's hint and since when, and the previous secrets still in grace."""
    with db.connection() as conn:
        keys = auth_store.list_keys(conn, space["id"], clock.now())
    rows = []
    for kind in auth_store.KINDS:
        mine = [k for k in keys if k["kind"] == kind]
        live = next((k for k in mine if k["expires_at"] is None), None)
        rows.append({
            "kind": kind, **SECRETS[kind],
            "hint": live["hint"] if live else None,
            "since": _local_time(live["created_at"], space["time_zone"]) if live else None,
            "previous": [{"hint": k["hint"], "until": _local_time(k["expires_at"], space["time_zone"])}
                         for k in mine if k["expires_at"] is not None],
        })
    return rows


def _carried_token(space: dict, raw: str | None) -> str | None:
    """The ingest token the builder form carries, when it is a working ingest token of this space."""
    if not raw or len(raw) > MAX_TOKEN_LENGTH:
        return None
    with db.connection() as conn:
        row = auth_store.find_key(conn, raw)
    if row is None or row["space_id"] != space["id"] or row["kind"] != "ingest":
        return None
    if row["expires_at"] is not None and row["expires_at"] <= clock.now():
        return None
    return raw


def builder_context(form, base_url: str, token: str | None) -> dict:
    """What templates/setup/keys/_builder.html needs: the builder state and the token it carries."""
    builder = snippets.build_postback(form, base_url, token)
    shown = builder.preset or snippets.PRESETS[snippets.DEFAULT_PRESET]
    return {"builder": builder, "builder_token": token, "shown_preset": shown,
            "preset_options": [(p.key, p.label) for p in snippets.PRESETS.values()],
            "trigger_options": [(t.key, t.label) for t in shown.triggers]}


def _example_link(space: dict) -> str | None:
    """The slug the ready-to-paste click uses: the space's first live link (None without one)."""
    with db.connection() as conn:
        links = link_store.list_links(conn, space["id"])
    live = [link for link in links if link.archived_at is None]
    return live[0].slug if live else None


def keys_context(space: dict, revealed: dict[str, str], builder_form=None, token: str | None = None) -> dict:
    """The whole page: secrets by hint, secrets revealed by this answer, snippets, and the builder."""
    base_url = current_app.config["PUBLIC_URL"]
    bearer = revealed.get("bearer")
    ingest = revealed.get("ingest") or token
    form = builder_form or {"preset": snippets.DEFAULT_PRESET, "event": snippets.DEFAULT_TRIGGER}
    with db.connection() as conn:
        report_keys = [{**k, "created": _local_time(k["created_at"], space["time_zone"])}
                       for k in auth_store.list_report_keys(conn, space["id"])]
    return {
        "secrets": _secret_rows(space), "revealed": revealed, "base_url": base_url, "report_keys": report_keys,
        "grace_hours": current_app.config["KEY_GRACE_HOURS"],
        "code": snippets.curl_snippets(base_url, bearer, ingest, _example_link(space))
                + [snippets.python_client(base_url, bearer)],
        "postbacks": snippets.ready_postbacks(base_url, ingest),
        **builder_context(form, base_url, ingest),
    }


@bp.get("/")
@session.login_required
def show_keys(space):
    """The secrets by hint, ready-to-paste code with placeholders, and the builder (admin only).

    After a rotation (?reveal=) it shows the new secrets this once; a reload says they were shown.
    """
    current = open_space(space, "admin")
    reveal = request.args.get("reveal")
    if reveal:
        held = once.take_secret(current["id"], reveal) or {}
        revealed = {k: v for k, v in held.items() if k in SECRETS}
        message = held.get("notice") if revealed else (
            "Those secrets were shown once and are not shown again: rotate to issue new ones.")
        body, status = render_screen("setup/keys/page.html", current, "keys", notice=message,
                                     **keys_context(current, revealed))
        return once.no_store(make_response(body, status))
    return render_screen("setup/keys/page.html", current, "keys", notice=notice(DONE), **keys_context(current, {}))


@bp.post("/rotate")
@session.login_required
@once.once
def rotate_keys(space):
    """Rotate one secret or both and answer the page with the new secrets shown this once.

    The form may carry the hints it was rendered with (`expect_bearer`, `expect_ingest`): when the
    live secret has changed since (a resubmitted form, another admin), nothing is rotated.
    """
    current = open_space(space, "admin")
    kinds = ROTATE_KINDS.get(request.form.get("kind", ""))
    if kinds is None:
        return render_screen("setup/keys/page.html", current, "keys", status=400,
                             errors={"kind": "choose what to rotate: bearer, ingest or both"},
                             **keys_context(current, {}))
    now = clock.now()
    grace = timedelta(hours=current_app.config["KEY_GRACE_HOURS"])
    with db.transaction() as conn:
        live = {kind: auth_store.lock_live_key(conn, current["id"], kind) for kind in kinds}
        changed = [kind for kind in kinds if request.form.get(f"expect_{kind}") is not None
                   and request.form[f"expect_{kind}"] != (live[kind]["hint"] if live[kind] else "")]
        revealed = {} if changed else {kind: auth_store.rotate_key(conn, current["id"], kind, now, grace)
                                       for kind in kinds}
    if changed:
        return render_screen(
            "setup/keys/page.html", current, "keys", status=409,
            conflict="The keys changed after this page was loaded (the form may have been sent twice):"
                     " nothing was rotated. Rotate again to reveal new secrets.",
            **keys_context(current, {}))
    names = " and ".join(SECRETS[k]["label"].lower() for k in kinds)
    message = (f"New {names} issued. The previous {'secrets keep' if len(kinds) > 1 else 'secret keeps'} working"
               f" for {grace.total_seconds() / 3600:g} hours.")
    reveal = once.hold_secret(current["id"], {**revealed, "notice": message})
    return redirect(url_for(".show_keys", space=current["slug"], reveal=reveal), 303)


@bp.post("/postback")
@session.login_required
def build_postback(space):
    """Compose a GET /e postback URL: the builder fragment for HTMX, else the whole page with it."""
    current = open_space(space, "admin")
    token = _carried_token(current, request.form.get("ingest_token"))
    base_url = current_app.config["PUBLIC_URL"]
    if request.headers.get("HX-Request"):
        context = builder_context(request.form, base_url, token)
        status = 400 if context["builder"].errors else 200
        return render_template("setup/keys/_builder.html", space=current, **context), status
    context = keys_context(current, {}, request.form, token)
    status = 400 if context["builder"].errors else 200
    return render_screen("setup/keys/page.html", current, "keys", status=status, **context)


@bp.post("/report")
@session.login_required
def create_report_key(space):
    """Create a named read-only report key and show it this once."""
    current = open_space(space, "admin")
    label = " ".join(request.form.get("label", "").split())
    if not label or len(label) > 100:
        return render_screen("setup/keys/page.html", current, "keys", status=400,
                             errors={"label": "name the report key (1 to 100 characters), e.g. after the tool that uses it"},
                             **keys_context(current, {}))
    with db.transaction() as conn:
        secret = auth_store.create_report_key(conn, current["id"], label, clock.now())
    return render_screen("setup/keys/page.html", current, "keys", notice=f"Report key “{label}” created.",
                         revealed_report={"label": label, "secret": secret}, **keys_context(current, {}))


@bp.post("/report/<int:id>/revoke")
@session.login_required
def revoke_report_key(space, id: int):  # noqa: A002 (the route map's sample name for row ids)
    """Revoke a report key at once (404 for another space's key)."""
    current = open_space(space, "admin")
    with db.transaction() as conn:
        found = auth_store.revoke_report_key(conn, current["id"], id, clock.now())
    if not found:
        abort(404, description="no such report key in this space")
    credentials.clear_cache()
    return render_screen("setup/keys/page.html", current, "keys", notice="Report key revoked.",
                         **keys_context(current, {}))
