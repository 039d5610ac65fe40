"""The custom domains screen: add a hostname, the CNAME to set, verify, status (docs/custom-domains.md)."""
from zoneinfo import ZoneInfo

from flask import Blueprint, request

from app import db
from app.lib import clock
from app.link import domains, store
from app.link.parse import LinkError
from app.web.screen import can, done, not_found, notice, open_space, render_screen
from app.web import once, session

bp = Blueprint("setup_domains", __name__, url_prefix="/spaces/<space>/domains")
session.register_error_pages(bp)

DONE = {
    "added": "Hostname added. Create its CNAME record, then verify it.",
    "verified": "Verified: the hostname points at the tracker and serves this space's landings.",
    "not_verified": "Not verified: DNS does not point the hostname at the tracker yet (see its check note).",
    "taken": "Not verified: another space verified this hostname first.",
    "removed": "Hostname removed: it no longer serves this space's landings.",
}


def _status(row: dict) -> str:
    if row["verified_at"] is not None:
        return "verified"
    return "failed" if row["checked_at"] is not None else "pending"


def domains_context(space: dict) -> dict:
    """The space's hostnames with their state and the CNAME target they must point at."""
    zone = ZoneInfo(space["time_zone"])
    with db.connection() as conn:
        rows = store.list_domains(conn, space["id"])
    return {"domains": [{**row, "status": _status(row),
                         "checked": row["checked_at"].astimezone(zone).strftime("%Y-%m-%d %H:%M")
                         if row["checked_at"] else None} for row in rows],
            "cname_target": domains.cname_target(), "time_zone_name": space["time_zone"]}


def _screen(space_row: dict, status: int = 200, **extra):
    return render_screen("setup/domains/list.html", space_row, "domains", status=status,
                         can_manage=can(space_row, "admin"), **domains_context(space_row), **extra)


@bp.get("/")
@session.login_required
def show_domains(space: str):
    """Every landing hostname of the space with its state and the DNS record to create."""
    space_row = open_space(space)
    return _screen(space_row, notice=notice(DONE), values={}, errors={})


@bp.post("/")
@session.login_required
@once.once
def add_domain(space: str):
    """Add a hostname (unverified until its CNAME is checked)."""
    space_row = open_space(space, "admin")
    raw = request.form.get("hostname", "").strip()
    with db.transaction() as conn:
        try:
            hostname = domains.check_new_hostname(conn, space_row["id"], raw)
        except LinkError as exc:
            error = str(exc)
        else:
            if store.find_domain(conn, space_row["id"], hostname) is not None:
                error = f"{hostname} is already a domain of this space"
            else:
                store.create_domain(conn, space_row["id"], hostname, clock.now())
                error = None
    if error:
        return _screen(space_row, status=400, values={"hostname": raw}, errors={"hostname": error})
    return done(".show_domains", space_row, "added")


@bp.post("/<hostname>/verify")
@session.login_required
def verify_domain(space: str, hostname: str):
    """Ask DNS now whether the hostname points at the tracker, and record the answer."""
    space_row = open_space(space, "admin")
    try:
        row = domains.verify_domain(space_row["id"], hostname.lower().rstrip("."))
    except store.NotFound:
        not_found("domain")
    except store.HostnameTaken:
        outcome = "taken"
    else:
        outcome = "verified" if row["verified_at"] is not None else "not_verified"
    return done(".show_domains", space_row, outcome)


@bp.post("/<hostname>/remove")
@session.login_required
def remove_domain(space: str, hostname: str):
    """Stop serving the space's landings on the hostname."""
    space_row = open_space(space, "admin")
    with db.connection() as conn:
        removed = store.delete_domain(conn, space_row["id"], hostname.lower().rstrip("."))
    if not removed:
        not_found("domain")
    return done(".show_domains", space_row, "removed")
