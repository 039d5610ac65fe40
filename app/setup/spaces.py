"""Create a space, and its settings screen: name, time zone, main currency (docs/spaces-and-members.md)."""
from functools import lru_cache
from zoneinfo import available_timezones

import psycopg
from flask import Blueprint, g, redirect, render_template, request, url_for

from app import db
from app.auth import store as auth_store
from app.lib import clock
from app.lib.currency import ISO_4217, normalize_currency
from app.lib.timezones import is_time_zone
from app.reporting import store as reporting
from app.web.screen import can, notice, open_space, render_screen
from app.space import members as member_store
from app.space import store as space_store
from app.web import once, session

bp = Blueprint("setup_spaces", __name__, url_prefix="/spaces")
session.register_error_pages(bp)

NOTICES = {
    "saved": "Settings saved.",
    "rebuilt": "Settings saved. The deck's days were recomputed in the new time zone.",
}
CURRENCIES = sorted(ISO_4217)
# Two people creating spaces of the same name at once both pick the same free slug; the loser retries.
CREATE_ATTEMPTS = 3
# A settings save that races a fold or another save of the same space (repeatable read) is retried.
SAVE_ATTEMPTS = 5


@lru_cache(maxsize=1)
def time_zone_names() -> list[str]:
    """Every IANA time zone name this machine knows, sorted (the form's suggestions)."""
    return sorted(available_timezones())


def _read_form() -> tuple[dict, dict, dict]:
    """The submitted name, time zone and currency as typed, the cleaned values, and per-field errors."""
    values = {key: request.form.get(key, "")[:300] for key in ("name", "time_zone", "currency")}
    clean, errors = {}, {}
    name = values["name"].strip()
    if not name:
        errors["name"] = "Enter a name."
    elif len(name) > space_store.NAME_MAX:
        errors["name"] = f"At most {space_store.NAME_MAX} characters."
    elif any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        errors["name"] = "The name may not contain control characters."
    clean["name"] = name
    zone = values["time_zone"].strip()
    if not is_time_zone(zone) or zone not in time_zone_names():
        errors["time_zone"] = "Choose an IANA time zone such as Europe/Berlin or America/New_York."
    clean["time_zone"] = zone
    code = normalize_currency(values["currency"])
    if code is None:
        errors["currency"] = "Enter an ISO 4217 currency code such as USD or EUR."
    clean["currency"] = code
    return values, clean, errors


def _check_zone_in_database(conn: psycopg.Connection, clean: dict, errors: dict) -> None:
    if "time_zone" not in errors and not space_store.database_knows_time_zone(conn, clean["time_zone"]):
        errors["time_zone"] = "The database does not know this time zone; choose another."


def _render_new(values: dict, errors: dict, status: int = 200):
    return render_template("setup/spaces/new.html", values=values, errors=errors, zones=time_zone_names(),
                           currencies=CURRENCIES), status


@bp.get("/new")
@session.login_required
def show_new_space():
    """The form to create a space."""
    return _render_new({"name": "", "time_zone": "UTC", "currency": "USD"}, {})


@bp.post("/new")
@session.login_required
@once.once
def create_space():
    """Create a space with its two API secrets, the signed-in user its admin; then open its keys screen."""
    values, clean, errors = _read_form()
    if not errors:
        with db.connection() as conn:
            _check_zone_in_database(conn, clean, errors)
    if errors:
        return _render_new(values, errors, 400)
    for attempt in range(CREATE_ATTEMPTS):
        try:
            with db.transaction() as conn:
                now = clock.now()
                space = space_store.create_space(conn, clean["name"], time_zone=clean["time_zone"],
                                                 currency=clean["currency"])
                # The secrets are not shown here: the keys screen reveals them by rotating.
                for kind in auth_store.KINDS:
                    auth_store.create_key(conn, space["id"], kind, now)
                member_store.add_member(conn, space["id"], g.user["id"], "admin", now)
            break
        except psycopg.errors.UniqueViolation:
            if attempt == CREATE_ATTEMPTS - 1:
                raise
    return redirect(f"/spaces/{space['slug']}/keys/?done=space_created")


def _settings_values(space: dict) -> dict:
    return {"name": space["name"], "time_zone": space["time_zone"], "currency": space["currency"]}


def _render_settings(space: dict, values: dict, errors: dict, status: int = 200, notice: str | None = None):
    return render_screen("setup/spaces/settings.html", space, "settings", status, values=values, errors=errors,
                         zones=time_zone_names(), currencies=CURRENCIES, can_edit=can(space, "admin"), notice=notice)


@bp.get("/<space>/settings")
@session.login_required
def show_settings(space: str):
    """The space's name, time zone and main currency (viewers read, admins edit)."""
    row = open_space(space, "viewer")
    return _render_settings(row, _settings_values(row), {}, notice=notice(NOTICES))


@bp.post("/<space>/settings")
@session.login_required
def update_settings(space: str):
    """Save name, time zone and currency; a new time zone recomputes the deck's days."""
    row = open_space(space, "admin")
    values, clean, errors = _read_form()
    if not errors and clean["time_zone"] != row["time_zone"]:
        with db.connection() as conn:
            _check_zone_in_database(conn, clean, errors)
    if errors:
        return _render_settings(row, values, errors, 400)
    if clean["time_zone"] == row["time_zone"]:
        with db.connection() as conn:
            space_store.update_space(conn, row["id"], **clean)
        done = "saved"
    else:
        save_with_new_time_zone(row["id"], clean)
        done = "rebuilt"
    return redirect(url_for("setup_spaces.show_settings", space=row["slug"], done=done))


def save_with_new_time_zone(space_id: int, clean: dict) -> None:
    """Save the settings and recompute the space's rollups in the new zone, as one atomic change.

    Day rollups are keyed by the space's local day, so a zone change must rebuild them. In one
    REPEATABLE READ transaction:
    1. Take the space's fold lock (transaction-level, the one the deck's and the reports' folds
       take), so no fold runs with either zone while the rebuild is under way. The snapshot is
       taken just before the lock is granted; a fold committed in that gap makes the lock raise a
       serialization failure (reporting.lock_for_rebuild), so the snapshot includes every fold.
    2. Update the space and rebuild the deck's and the reports' rollups: one snapshot for clearing
       the deltas and re-reading clicks, journeys and events, so an event committed meanwhile is
       counted once, by its own delta, never twice or not at all.
    3. COMMIT releases the lock. A serialization failure (a fold or another save of the same space
       in between) rolls back and retries with a fresh snapshot.
    """
    for attempt in range(SAVE_ATTEMPTS):
        with db.connection() as conn:
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            try:
                with conn.transaction():
                    reporting.lock_for_rebuild(conn, space_id)
                    space_store.update_space(conn, space_id, **clean)
                    reporting.rebuild(conn, space_id)
                return
            except psycopg.errors.SerializationFailure:
                if attempt == SAVE_ATTEMPTS - 1:
                    raise
            finally:
                conn.isolation_level = None
