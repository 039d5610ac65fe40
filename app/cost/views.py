"""The Costs screen: costs of a range, a form, a CSV upload with a preview and per-row errors, and the
space's own exchange rates (docs/costs.md)."""
from datetime import date
from decimal import Decimal
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, redirect, request, url_for

from app import db
from app.cost import service, store
from app.cost.parse import (SCOPE_FIELDS, SCOPE_LABELS, format_amount, parse_cost,
                            parse_cost_csv)
from app.reporting.filters import PRESETS, FilterError, parse_filters
from app.lib import clock
from app.lib.currency import normalize_currency
from app.rate import store as rate_store
from app.rate.parse import RateError, parse_rate
from app.reporting import store as reporting
from app.web.screen import can, notice, open_space, render_screen
from app.web import session

bp = Blueprint("costs", __name__, url_prefix="/spaces/<space>/costs")
session.register_error_pages(bp)

WRITE_ROLE = "operator"
MAX_RATE_ROWS = 2000


def _today(space: dict) -> date:
    return clock.now().astimezone(ZoneInfo(space["time_zone"])).date()


def _upload_text(field: str, pasted: str) -> str | None:
    """The uploaded file's text (or the pasted text), UTF-8; None when neither was sent."""
    request.max_content_length = current_app.config["COST_UPLOAD_MAX_BYTES"]
    upload = request.files.get(field)
    if upload is not None and upload.filename:
        raw = upload.read()
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return raw.decode("latin-1")
    text = request.form.get(pasted, "")
    return text if text.strip() else None


def costs_context(space: dict, args) -> dict:
    """The screen's data: the range's costs, the links for the form, the space's rates, the latest reference day."""
    values = args.to_dict()
    values.setdefault("range", "30d" if "from" not in values else "custom")
    try:
        window = parse_filters(values, space["time_zone"], clock.now())
    except FilterError:
        window = parse_filters({"range": "30d"}, space["time_zone"], clock.now())
    with db.connection() as conn:
        costs = store.list_costs(conn, space["id"], window.first_day, window.last_day)
        links = reporting.list_links(conn, space["id"])
        rates = rate_store.list_space_rates(conn, space["id"], limit=200)
        latest = rate_store.latest_reference_day(conn)
    totals: dict[str, Decimal] = {}
    for c in costs:
        totals[c["currency"]] = totals.get(c["currency"], Decimal(0)) + c["amount"]
    return {"costs": costs, "links": links, "rates": rates, "latest_reference_day": latest, "window": window,
            "presets": PRESETS, "totals": sorted(totals.items()), "scope_labels": SCOPE_LABELS,
            "today": _today(space), "can_write": can(space, WRITE_ROLE),
            "format_amount": format_amount}


DONE = {"stored": "Cost stored.", "deleted": "Cost deleted.", "rate_stored": "Rate stored.",
        "rate_deleted": "Rate deleted."}


def _screen(space: dict, status: int = 200, notice_text: str | None = None, **extra):
    context = costs_context(space, request.args)
    context.update(extra)
    return render_screen("cost/page.html", space, "costs", status=status, notice=notice_text or notice(DONE), **context)


@bp.get("/")
@session.login_required
def show_costs(space):
    """Costs of the range with the form, the CSV upload and the space's exchange rates."""
    return _screen(open_space(space))


@bp.post("/")
@session.login_required
def create_cost(space):
    """Store one cost from the form (replacing that day's amount for the same scope)."""
    current = open_space(space, WRITE_ROLE)
    form = request.form
    scope = form.get("scope", "")
    raw = {"date": form.get("date", ""), "amount": form.get("amount", ""), "currency": form.get("currency", "")}
    errors = {}
    if scope not in SCOPE_FIELDS:
        errors["scope"] = "choose link, campaign, ad set or ad"
    else:
        raw[SCOPE_FIELDS[scope]] = form.get("scope_id", "").strip()
        stored, failed = service.store_costs(current["id"], [raw], _today(current), "form")
        if not failed:
            return redirect(url_for("costs.show_costs", space=current["slug"], done="stored"))
        errors["_form"] = failed[0]["error"]
    return _screen(current, 400, errors=errors, form=form)


@bp.post("/delete")
@session.login_required
def delete_cost(space):
    """Delete one cost (day, scope, id)."""
    current = open_space(space, WRITE_ROLE)
    try:
        day = date.fromisoformat(request.form.get("date", ""))
    except ValueError:
        return _screen(current, 400, errors={"_form": "`date` must be YYYY-MM-DD"})
    with db.transaction() as conn:
        found = store.delete_cost(conn, current["id"], day, request.form.get("scope", ""), request.form.get("scope_id", ""))
    if not found:
        return _screen(current, 404, errors={"_form": "no such cost in this space"})
    return redirect(url_for("costs.show_costs", space=current["slug"], done="deleted"))


@bp.post("/upload")
@session.login_required
def preview_upload(space):
    """Read a cost CSV and show each row with what will be stored or why it is refused; nothing is stored yet."""
    current = open_space(space, WRITE_ROLE)
    text = _upload_text("file", "csv_text")
    if text is None:
        return _screen(current, 400, upload_error="choose a CSV file (or paste its text)")
    rows, file_error = parse_cost_csv(text, _today(current))
    rows = _check_links(current, rows)
    return _screen(current, 400 if file_error and not rows else 200, preview=rows, upload_error=file_error,
                   csv_text=text, valid_count=sum(1 for r in rows if r.entry))


def _check_links(space: dict, rows):
    slugs = sorted({r.entry.scope_id for r in rows if r.entry and r.entry.scope == "link"})
    if slugs:
        with db.connection() as conn:
            known = store.existing_link_slugs(conn, space["id"], slugs)
        for r in rows:
            if r.entry and r.entry.scope == "link" and r.entry.scope_id not in known:
                r.error, r.entry = f"no link {r.entry.scope_id[:64]!r} in this space", None
    return rows


@bp.post("/import")
@session.login_required
def import_upload(space):
    """Store the valid rows of a previewed CSV (sent back as text); refused rows are listed again."""
    current = open_space(space, WRITE_ROLE)
    text = _upload_text("file", "csv_text")
    if text is None:
        return _screen(current, 400, upload_error="nothing to import: upload the CSV again")
    rows, file_error = parse_cost_csv(text, _today(current))
    rows = _check_links(current, rows)
    entries = [(r.line, r.entry) for r in rows if r.entry]
    if not entries:
        return _screen(current, 400, preview=rows, upload_error=file_error or "no valid rows to store",
                       csv_text=text, valid_count=0)
    stored, errors = service.store_entries(current["id"], entries, "csv")
    replaced = sum(1 for s in stored if s["replaced"])
    refused = [r for r in rows if not r.entry]
    message = (f"Stored {len(stored)} cost{'s' if len(stored) != 1 else ''} from the CSV ({replaced} replaced an"
               f" earlier amount); {len(refused)} row{'s' if len(refused) != 1 else ''} refused.")
    return _screen(current, notice_text=message, preview=refused or None, imported=True, csv_text=None,
                   valid_count=0)


def _store_rates(space: dict, raws: list[dict]) -> tuple[int, list[str]]:
    """Store manual rates (date, currency, rate, optional quote); (stored, errors per bad row)."""
    today = _today(space)
    valid, errors = [], []
    for i, raw in enumerate(raws, start=1):
        try:
            day = date.fromisoformat((raw.get("date") or "").strip())
        except ValueError:
            errors.append(f"row {i}: `date` must be YYYY-MM-DD")
            continue
        currency = normalize_currency(raw.get("currency") or "")
        quote = normalize_currency(raw.get("quote") or space["currency"])
        if currency is None or quote is None:
            errors.append(f"row {i}: `currency` and `quote` must be ISO 4217 codes")
            continue
        if currency == quote:
            errors.append(f"row {i}: a rate needs two different currencies ({currency} is the quote currency)")
            continue
        if day > today:
            errors.append(f"row {i}: {day.isoformat()} is in the future")
            continue
        try:
            rate = parse_rate(raw.get("rate"))
        except RateError as exc:
            errors.append(f"row {i}: {exc}")
            continue
        valid.append((day, currency, quote, rate))
    with db.transaction() as conn:
        for day, currency, quote, rate in valid:
            rate_store.upsert_space_rate(conn, space["id"], day, currency, quote, rate, clock.now())
    return len(valid), errors


@bp.post("/rates")
@session.login_required
def create_rate(space):
    """Store one manual rate: 1 currency = rate quote (the main currency unless given) on a day."""
    current = open_space(space, WRITE_ROLE)
    stored, errors = _store_rates(current, [request.form.to_dict()])
    if errors:
        return _screen(current, 400, rate_errors=[e.removeprefix("row 1: ") for e in errors], rate_form=request.form)
    return redirect(url_for("costs.show_costs", space=current["slug"], done="rate_stored"))


@bp.post("/rates/upload")
@session.login_required
def upload_rates(space):
    """Store the valid rows of a rates CSV (date, currency, rate[, quote]); list the refused rows."""
    import csv
    import io
    current = open_space(space, WRITE_ROLE)
    text = _upload_text("file", "csv_text")
    if text is None:
        return _screen(current, 400, rate_errors=["choose a CSV file with date, currency, rate[, quote]"])
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    raws = []
    for row in reader:
        raws.append({(k or "").strip().lower(): (v or "").strip() for k, v in row.items() if isinstance(v, str)})
        if len(raws) > MAX_RATE_ROWS:
            return _screen(current, 400, rate_errors=[f"at most {MAX_RATE_ROWS} rates per file"])
    if not raws:
        return _screen(current, 400, rate_errors=["the file has no rows under a date,currency,rate header"])
    stored, errors = _store_rates(current, raws)
    return _screen(current, 200 if stored else 400, rate_errors=errors,
                   notice_text=f"Stored {stored} rate{'s' if stored != 1 else ''}; {len(errors)} row{'s' if len(errors) != 1 else ''} refused.")


@bp.post("/rates/delete")
@session.login_required
def delete_rate(space):
    """Delete one of the space's own rates."""
    current = open_space(space, WRITE_ROLE)
    try:
        day = date.fromisoformat(request.form.get("date", ""))
    except ValueError:
        return _screen(current, 400, rate_errors=["`date` must be YYYY-MM-DD"])
    with db.transaction() as conn:
        found = rate_store.delete_space_rate(conn, current["id"], day, request.form.get("currency", ""),
                                             request.form.get("quote", ""))
    if not found:
        return _screen(current, 404, rate_errors=["no such rate in this space"])
    return redirect(url_for("costs.show_costs", space=current["slug"], done="rate_deleted"))
