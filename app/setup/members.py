"""The members screen: invite by email with a role, change the role, remove (docs/spaces-and-members.md).

Membership is by consent only: adding an email never grants access by itself, whether or not
an account uses that email. It creates an invitation whose secret link the admin passes on;
whoever holds the link accepts it with the account they choose — the one they are signed in
with, one they sign in to, or one they create — and only that account joins.

`bp` serves /spaces/<space>/members/; `invite_bp` serves /invite/<token>.
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
from app.web.screen import can, done, found, not_found, notice, open_space, render_screen
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
                       notice=f"Invitation for {held['email']} created: send them this link. Whoever opens it"
                              f" joins with the account they sign in with or create.")
    return _render(row, notice=notice(NOTICES))


@bp.post("/")
@session.login_required
@once.once
def add_member(space: str):
    """Invite an email with a role: always an invitation link, never a membership by itself.

    The answer is the same whether or not an account uses the email (only an email that is
    already a member of this very space, listed on this screen, is refused).
    """
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
    token = secrets.token_urlsafe(32)
    with db.transaction() as conn:
        if member_store.find_member_by_email(conn, row["id"], email) is not None:
            invitation = None
        else:
            invitation = member_store.create_invitation(
                conn, row["id"], email=email, role=values["role"], token_hash=tokens.digest(token),
                invited_by=g.user["id"], now=now, expires_at=now + timedelta(days=INVITATION_DAYS))
    if invitation is None:
        return _render(row, 400, values=values, errors={"email": f"{email} is already a member of this space."})
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


# Invitations: the form uses the login page's double-submit cookie for CSRF (the visitor may have
# no session yet); the unguessable token in the URL is what authorises the visit.

class InvitationUnusable(Exception):
    """The token names no invitation (404), or one already used or expired (410)."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


class AccountRejected(Exception):
    """The new account cannot be created as asked; `errors` maps each field to its message."""

    def __init__(self, invitation: dict, errors: dict):
        super().__init__("account rejected")
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


def _render_invitation(token: str, invitation: dict, errors: dict, status: int = 200, email: str | None = None):
    form_token = request.cookies.get(session.LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
    login_url = url_for("web.show_login", next=url_for("invitations.show_invitation", token=token))
    response = make_response(render_template(
        "auth/invite.html", token=token, invitation=invitation, errors=errors, csrf_token=form_token,
        min_length=passwords.MIN_LENGTH, email=invitation["email"] if email is None else email,
        login_url=login_url), status)
    session.set_cookie(response, session.LOGIN_CSRF_COOKIE, form_token, 3600)
    response.headers["Cache-Control"] = "no-store"
    # The token is in this page's URL: never send it to another site as a Referer.
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@invite_bp.get("/<token>")
def show_invitation(token: str):
    """The invitation: join with the signed-in account, or sign in, or create an account and join.

    The page never says whether an account uses the invited email.
    """
    session.load_user()
    with db.connection() as conn:
        invitation = usable_invitation(conn, token)
    return _render_invitation(token, invitation, {})


def join(token: str, user_id: int) -> dict:
    """In one transaction: make `user_id` a member with the invited role and use up the invitation.

    An account that already belongs to the space keeps its membership and role untouched.
    Returns the invitation; raises InvitationUnusable.
    """
    now = clock.now()
    with db.transaction() as conn:
        invitation = usable_invitation(conn, token, lock=True)
        member_store.add_member(conn, invitation["space_id"], user_id, invitation["role"], now)
        member_store.mark_invitation_accepted(conn, invitation["space_id"], invitation["id"], now)
    return invitation


def create_account_and_join(token: str, raw_email: str, password: str, confirm: str) -> tuple[dict, dict]:
    """In one transaction: create an account with the chosen email and password, then join.

    Returns (invitation, user); raises InvitationUnusable, or AccountRejected when the email is
    malformed or taken or the password does not meet the rules.
    """
    now = clock.now()
    with db.transaction() as conn:
        invitation = usable_invitation(conn, token, lock=True)
        email = normalize_email(raw_email)
        errors = {"email": "Enter an email address such as name@example.com."} if email is None else {}
        errors = errors or password_errors(password, confirm)
        if not errors and auth_store.find_user_by_email(conn, email) is not None:
            errors = {"email": "An account uses this email: sign in to accept with it."}
        if errors:
            raise AccountRejected(invitation, errors)
        user = auth_store.create_user(conn, email, passwords.hash_password(password))
        member_store.add_member(conn, invitation["space_id"], user["id"], invitation["role"], now)
        member_store.mark_invitation_accepted(conn, invitation["space_id"], invitation["id"], now)
    return invitation, user


@invite_bp.post("/<token>")
def accept_invitation(token: str):
    """Accept: `intent=join` joins with the signed-in account; `intent=create` creates one and joins.

    A visitor who is not signed in and asks to join is sent to sign in first (and back here).
    """
    sent = request.form.get("csrf_token", "")
    cookie = request.cookies.get(session.LOGIN_CSRF_COOKIE, "")
    if not cookie or not hmac.compare_digest(sent.encode(), cookie.encode()):
        abort(403, description=CSRF_FAILED)
    session.load_user()
    intent = request.form.get("intent", "")
    if intent == "join":
        if g.user is None:
            with db.connection() as conn:
                usable_invitation(conn, token)
            return redirect(url_for("web.show_login", next=url_for(".show_invitation", token=token)))
        invitation = join(token, g.user["id"])
        response = redirect(url_for("dashboard.show_deck", space=invitation["space_slug"]))
    elif intent == "create":
        raw_email = request.form.get("email", "")[:300]
        password, confirm = request.form.get("password", "")[:PASSWORD_MAX + 1], request.form.get("password_confirm", "")
        try:
            try:
                invitation, user = create_account_and_join(token, raw_email, password, confirm)
            except psycopg.errors.UniqueViolation:
                # The email got an account between the check and the insert: say so like the check does.
                invitation, user = create_account_and_join(token, raw_email, password, confirm)
        except AccountRejected as exc:
            return _render_invitation(token, exc.invitation, exc.errors, 400, email=raw_email)
        response = redirect(url_for("dashboard.show_deck", space=invitation["space_slug"]))
        if g.user is not None:
            session.end_session(response)
        session.start_session(response, user["id"])
    else:
        abort(400, description="intent must be join or create")
    response.delete_cookie(session.LOGIN_CSRF_COOKIE, path="/")
    return response
