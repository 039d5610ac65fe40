"""The members screen: add a user by email with a role, change the role, remove, invite (docs/spaces-and-members.md).

`bp` serves /spaces/<space>/members/; `invite_bp` serves /invite/<token>, where someone invited
without an account chooses a password and joins.
"""
import hmac
import re
import secrets
from datetime import timedelta
from zoneinfo import ZoneInfo

import psycopg
from flask import Blueprint, abort, current_app, g, make_response, redirect, render_template, request, url_for

from app import db
from app.auth import store as auth_store
from app.lib import clock, passwords, tokens
from app.setup.common import can, done, found, not_found, notice, open_space, render_screen
from app.space import members as member_store
from app.web import once, session

bp = Blueprint("setup_members", __name__, url_prefix="/spaces/<space>/members")
session.register_error_pages(bp)
invite_bp = Blueprint("invitations", __name__, url_prefix="/invite")
session.register_error_pages(invite_bp)

ROLES = auth_store.ROLES
INVITATION_DAYS = 7
EMAIL_MAX = 254
# Login truncates passwords to this length, so a longer one could never sign in.
PASSWORD_MAX = 1024
EMAIL_RE = re.compile(r"[a-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+")
NOTICES = {
    "added": "Member added.",
    "role_changed": "Role changed.",
    "removed": "Member removed.",
    "revoked": "Invitation revoked; its link no longer works.",
}
LAST_ADMIN = "A space needs at least one admin: make another member admin first."
CSRF_FAILED = "the form has expired or did not come from this site (CSRF check failed); reload the page"


def normalize_email(raw: str) -> str | None:
    """The lower-cased, trimmed address when it looks like one (local@domain.tld), else None."""
    email = raw.strip().lower()
    if len(email) > EMAIL_MAX or not EMAIL_RE.fullmatch(email):
        return None
    return email


def _local_date(moment, space: dict) -> str:
    return moment.astimezone(ZoneInfo(space["time_zone"])).strftime("%Y-%m-%d")


def _local_time(moment, space: dict) -> str:
    return moment.astimezone(ZoneInfo(space["time_zone"])).strftime("%Y-%m-%d %H:%M")


def members_context(space: dict) -> dict:
    """The members and pending invitations of the space, with dates in the space's time zone."""
    now = clock.now()
    with db.connection() as conn:
        members = member_store.list_members(conn, space["id"])
        invitations = member_store.list_invitations(conn, space["id"])
    for m in members:
        m["since"] = _local_date(m["created_at"], space)
    for i in invitations:
        i["expired"] = i["expires_at"] <= now
        i["expires"] = _local_time(i["expires_at"], space)
    return {"members": members, "invitations": invitations, "roles": ROLES, "is_admin": can(space, "admin"),
            "admin_count": sum(1 for m in members if m["role"] == "admin")}


def _render(space: dict, status: int = 200, *, values: dict | None = None, errors: dict | None = None, **extra):
    response = make_response(*render_screen(
        "setup/members/index.html", space, "members", status, values=values or {"email": "", "role": "viewer"},
        errors=errors or {}, invitation_days=INVITATION_DAYS, **members_context(space), **extra))
    if "invitation_url" in extra:
        # The page holds the only copy of the invitation link: keep it out of caches.
        response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/")
@session.login_required
def show_members(space: str):
    """Members with role and since, and pending invitations (viewers read; admins manage).

    After an invitation (?reveal=) it shows the invitation link this once; a reload says it was shown.
    """
    row = open_space(space, "viewer")
    reveal = request.args.get("reveal")
    if reveal:
        held = once.take_secret(row["id"], reveal)
        if held is None:
            return _render(row, notice="That invitation link was shown once and is not shown again:"
                                       " revoke the invitation and invite again for a new link.")
        return _render(row, invitation_url=held["url"], invitation={"email": held["email"], "role": held["role"]},
                       notice=f"No account uses {held['email']} yet: send them this invitation link.")
    return _render(row, notice=notice(NOTICES))


@bp.post("/")
@session.login_required
@once.once
def add_member(space: str):
    """Add a user by email with a role: a member at once when the account exists, else an invitation link."""
    row = open_space(space, "admin")
    values = {"email": request.form.get("email", "")[:300], "role": request.form.get("role", "")}
    errors = {}
    email = normalize_email(values["email"])
    if email is None:
        errors["email"] = "Enter an email address such as name@example.com."
    if values["role"] not in ROLES:
        errors["role"] = "Choose viewer, operator or admin."
    if errors:
        return _render(row, 400, values=values, errors=errors)
    now = clock.now()
    with db.transaction() as conn:
        user = auth_store.find_user_by_email(conn, email)
        if user is not None:
            added = member_store.add_member(conn, row["id"], user["id"], values["role"], now)
            if added:
                member_store.delete_pending_invitation_for(conn, row["id"], email)
        else:
            token = secrets.token_urlsafe(32)
            invitation = member_store.create_invitation(
                conn, row["id"], email=email, role=values["role"], token_hash=tokens.digest(token),
                invited_by=g.user["id"], now=now, expires_at=now + timedelta(days=INVITATION_DAYS))
    if user is not None:
        if not added:
            return _render(row, 400, values=values, errors={"email": f"{email} is already a member of this space."})
        return done(".show_members", row, "added")
    url = current_app.config["PUBLIC_URL"].rstrip("/") + url_for("invitations.show_invitation", token=token)
    reveal = once.hold_secret(row["id"], {"url": url, "email": invitation["email"], "role": invitation["role"]})
    return redirect(url_for(".show_members", space=row["slug"], reveal=reveal), 303)


def _member_or_404(conn: psycopg.Connection, space: dict, user_id: int) -> dict:
    return found(member_store.find_member(conn, space["id"], user_id), "member")


@bp.post("/<int:user_id>/role")
@session.login_required
def change_role(space: str, user_id: int):
    """Change a member's role; the last admin cannot be demoted."""
    row = open_space(space, "admin")
    role = request.form.get("role", "")
    with db.transaction() as conn:
        _member_or_404(conn, row, user_id)
        if role not in ROLES:
            error = "Choose viewer, operator or admin."
        elif role != "admin" and member_store.lock_admin_ids(conn, row["id"]) == {user_id}:
            error = LAST_ADMIN
        else:
            member_store.update_member_role(conn, row["id"], user_id, role)
            error = None
    if error:
        return _render(row, 400, errors={f"member-{user_id}": error})
    return done(".show_members", row, "role_changed")


@bp.post("/<int:user_id>/remove")
@session.login_required
def remove_member(space: str, user_id: int):
    """Remove a member from the space; the last admin cannot be removed."""
    row = open_space(space, "admin")
    with db.transaction() as conn:
        _member_or_404(conn, row, user_id)
        last_admin = member_store.lock_admin_ids(conn, row["id"]) == {user_id}
        if not last_admin:
            member_store.delete_member(conn, row["id"], user_id)
    if last_admin:
        return _render(row, 400, errors={f"member-{user_id}": LAST_ADMIN})
    if user_id == g.user["id"]:
        # Having left the space, its pages would be a 404: go to the list of spaces instead.
        return redirect(url_for("web.list_spaces"))
    return done(".show_members", row, "removed")


@bp.post("/invitations/<int:invitation_id>/revoke")
@session.login_required
def revoke_invitation(space: str, invitation_id: int):
    """Revoke a pending invitation: its link stops working."""
    row = open_space(space, "admin")
    with db.connection() as conn:
        if not member_store.delete_invitation(conn, row["id"], invitation_id):
            not_found("pending invitation")
    return done(".show_members", row, "revoked")


# Invitations: the invitee has no session yet, so the form uses the login page's double-submit
# cookie for CSRF; the unguessable token in the URL is what authorises the visit.

class InvitationUnusable(Exception):
    """The token names no invitation (404), or one already used or expired (410)."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


class PasswordRejected(Exception):
    """The chosen password does not meet the rules; `errors` maps each field to its message."""

    def __init__(self, invitation: dict, errors: dict):
        super().__init__("password rejected")
        self.invitation, self.errors = invitation, errors


@invite_bp.errorhandler(InvitationUnusable)
def show_unusable_invitation(exc: InvitationUnusable):
    """Explain why the link does not work (unknown, used or expired) and what to do."""
    response = make_response(render_template("auth/invite_gone.html", status=exc.status, reason=exc.reason,
                                             days=INVITATION_DAYS),
                             exc.status)
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def usable_invitation(conn: psycopg.Connection, token: str, *, lock: bool = False) -> dict:
    """The pending, unexpired invitation behind `token`, or InvitationUnusable."""
    invitation = None
    if 0 < len(token) <= 128:
        invitation = member_store.find_invitation_by_token(conn, tokens.digest(token), lock=lock)
    if invitation is None:
        raise InvitationUnusable(404, "unknown")
    if invitation["accepted_at"] is not None:
        raise InvitationUnusable(410, "used")
    if invitation["expires_at"] <= clock.now():
        raise InvitationUnusable(410, "expired")
    return invitation


def password_errors(password: str, confirm: str) -> dict:
    """Per-field errors of a new password and its confirmation (empty when both are fine)."""
    if len(password) < passwords.MIN_LENGTH:
        return {"password": f"Use at least {passwords.MIN_LENGTH} characters."}
    if len(password) > PASSWORD_MAX:
        return {"password": f"Use at most {PASSWORD_MAX} characters."}
    if password != confirm:
        return {"password_confirm": "The two passwords differ."}
    return {}


def _render_invitation(token: str, invitation: dict, has_account: bool, errors: dict, status: int = 200):
    form_token = request.cookies.get(session.LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
    response = make_response(render_template(
        "auth/invite.html", token=token, invitation=invitation, has_account=has_account, errors=errors,
        csrf_token=form_token, min_length=passwords.MIN_LENGTH), status)
    session.set_cookie(response, session.LOGIN_CSRF_COOKIE, form_token, 3600)
    response.headers["Cache-Control"] = "no-store"
    # The token is in this page's URL: never send it to another site as a Referer.
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@invite_bp.get("/<token>")
def show_invitation(token: str):
    """The invitation: choose a password to create the account and join (or join with an existing account)."""
    with db.connection() as conn:
        invitation = usable_invitation(conn, token)
        has_account = auth_store.find_user_by_email(conn, invitation["email"]) is not None
    return _render_invitation(token, invitation, has_account, {})


def accept(token: str, password: str, confirm: str) -> tuple[dict, dict, bool]:
    """In one transaction: join the invited space, creating the account first when the email has none.

    Returns (invitation, user, created); raises InvitationUnusable or PasswordRejected.
    """
    now = clock.now()
    with db.transaction() as conn:
        invitation = usable_invitation(conn, token, lock=True)
        user = auth_store.find_user_by_email(conn, invitation["email"])
        created = user is None
        if created:
            errors = password_errors(password, confirm)
            if errors:
                raise PasswordRejected(invitation, errors)
            user = auth_store.create_user(conn, invitation["email"], passwords.hash_password(password))
        member_store.add_member(conn, invitation["space_id"], user["id"], invitation["role"], now)
        member_store.mark_invitation_accepted(conn, invitation["space_id"], invitation["id"], now)
    return invitation, user, created


@invite_bp.post("/<token>")
def accept_invitation(token: str):
    """Accept: create the account with the chosen password, join with the invited role, and sign in.

    When an account with the invited email exists by now, it joins and signs in with its own password.
    """
    sent = request.form.get("csrf_token", "")
    cookie = request.cookies.get(session.LOGIN_CSRF_COOKIE, "")
    if not cookie or not hmac.compare_digest(sent.encode(), cookie.encode()):
        abort(403, description=CSRF_FAILED)
    password, confirm = request.form.get("password", ""), request.form.get("password_confirm", "")
    try:
        try:
            invitation, user, created = accept(token, password, confirm)
        except psycopg.errors.UniqueViolation:
            # The email got an account meanwhile (another space's invitation, the CLI): join with it.
            invitation, user, created = accept(token, password, confirm)
    except PasswordRejected as exc:
        return _render_invitation(token, exc.invitation, False, exc.errors, 400)
    deck = url_for("dashboard.show_deck", space=invitation["space_slug"])
    session.load_user()
    if created:
        response = redirect(deck)
        if g.user is not None:
            session.end_session(response)
        session.start_session(response, user["id"])
    elif g.user is not None and g.user["id"] == user["id"]:
        response = redirect(deck)
    else:
        response = redirect(url_for("web.show_login", next=deck))
    response.delete_cookie(session.LOGIN_CSRF_COOKIE, path="/")
    return response
