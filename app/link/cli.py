"""`flask --app wsgi link …` and `flask --app wsgi domain …`: links and custom landing domains for scripts."""

import click
from flask import Flask, current_app

from app import db
from app.lib import clock
from app.telegram import pool as telegram_pool
from app.link import domains, store
from app.link.rows import Link
from app.link.parse import CAMPAIGN_DEFAULT_FIELDS, LinkError, parse_link, reserved_slugs
from app.link.urls import landing_urls, verified_hosts as _verified_hosts
from app.lib.cli_output import emit as _emit, fail as _fail
from app.space.cli import space_or_fail as _space


def _link_json(link: Link, verified_hosts: list[str]) -> dict:
    return {"slug": link.slug, "name": link.name, "kind": link.kind, "target": link.target,
            "mode": link.mode, "emit_contact": link.emit_contact,
            "campaign_defaults": link.campaign_defaults, **landing_urls(link, verified_hosts),
            "created_at": link.created_at.isoformat(),
            "archived_at": link.archived_at.isoformat() if link.archived_at else None}


def _domain_json(row: dict) -> dict:
    return {"hostname": row["hostname"], "verified": row["verified_at"] is not None,
            "verified_at": row["verified_at"].isoformat() if row["verified_at"] else None,
            "checked_at": row["checked_at"].isoformat() if row["checked_at"] else None,
            "check_note": row["check_note"], "cname_target": domains.cname_target()}


def register(app: Flask) -> None:
    """Attach the `link` and `domain` command groups."""

    @app.cli.group("link")
    def link_group():
        """Links: trackable entry points whose landing mints the click uid."""

    @link_group.command("create")
    @click.argument("space")
    @click.option("--slug", required=True, help="Path of the landing: /<slug> (A-Z a-z 0-9 _ -).")
    @click.option("--kind", required=True, type=click.Choice(["bot", "channel", "web"]))
    @click.option("--target", required=True,
                  help="bot: its username; channel: its t.me link; web: a URL, with {uid} where the uid goes.")
    @click.option("--name", help="Display name (the slug when omitted).")
    @click.option("--mode", type=click.Choice(["page", "redirect"]), default="page", show_default=True,
                  help="page: a tiny page that opens the target with a button as fallback; redirect: a plain 302.")
    @click.option("--no-contact", is_flag=True, help="Do not record a contact event for each new click.")
    @click.option("--default", "defaults", multiple=True, metavar="FIELD=VALUE",
                  help="Campaign default used when the URL lacks it; FIELD is one of "
                       f"{', '.join(CAMPAIGN_DEFAULT_FIELDS)}.")
    @click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
    def create_link_command(space, slug, kind, target, name, mode, no_contact, defaults, as_json):
        """Create a link and print its landing URL."""
        campaign_defaults = {}
        for pair in defaults:
            field, sep, value = pair.partition("=")
            if not sep:
                _fail(as_json, f"--default {pair!r} must be FIELD=VALUE")
            campaign_defaults[field.strip()] = value
        reserved = reserved_slugs(rule.rule for rule in current_app.url_map.iter_rules())
        try:
            link_in = parse_link({"slug": slug, "kind": kind, "target": target, "name": name, "mode": mode,
                                  "emit_contact": not no_contact, "campaign_defaults": campaign_defaults}, reserved)
        except LinkError as exc:
            _fail(as_json, str(exc))
        with db.transaction() as conn:
            row = _space(conn, space, as_json)
            unconnected = telegram_pool.unconnected_channel_error(conn, row["id"], link_in.kind, link_in.target)
            if unconnected:
                _fail(as_json, unconnected)
            try:
                link = store.create_link(conn, row["id"], link_in, clock.now())
            except store.SlugTaken as exc:
                _fail(as_json, str(exc))
            hosts = _verified_hosts(conn, row["id"])
        telegram_pool.link_saved(current_app._get_current_object(), link)
        payload = {"ok": True, "space": row["slug"], **_link_json(link, hosts)}
        _emit(as_json, payload, f"link {link.slug} created: {payload['landing_url']}")

    @link_group.command("list")
    @click.argument("space")
    @click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
    def list_links_command(space, as_json):
        """List the space's links (archived ones too), newest first, with their landing URLs."""
        with db.connection() as conn:
            row = _space(conn, space, as_json)
            links = store.list_links(conn, row["id"])
            hosts = _verified_hosts(conn, row["id"])
        rows = [_link_json(link, hosts) for link in links]
        _emit(as_json, {"ok": True, "space": row["slug"], "links": rows},
              "\n".join(f"{r['slug']}\t{r['kind']}\t{r['target']}\t{r['landing_url']}" for r in rows) or "no links")

    def set_archived(space: str, slug: str, archived: bool, as_json: bool) -> None:
        with db.transaction() as conn:
            row = _space(conn, space, as_json)
            try:
                link = store.set_link_archived(conn, row["id"], slug, archived, clock.now())
            except store.NotFound:
                _fail(as_json, f"{slug} is not a link of {row['slug']}")
            hosts = _verified_hosts(conn, row["id"])
        _emit(as_json, {"ok": True, "space": row["slug"], **_link_json(link, hosts)},
              f"link {slug} " + ("archived: its landing answers 404" if archived else "restored: its landing answers"))

    @link_group.command("archive")
    @click.argument("space")
    @click.argument("slug")
    @click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
    def archive_link_command(space, slug, as_json):
        """Stop a link's landing (404, no click); its clicks stay and its slug stays taken."""
        set_archived(space, slug, True, as_json)

    @link_group.command("restore")
    @click.argument("space")
    @click.argument("slug")
    @click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
    def restore_link_command(space, slug, as_json):
        """Serve an archived link's landing again."""
        set_archived(space, slug, False, as_json)

    @app.cli.group("domain")
    def domain_group():
        """Custom landing domains (CNAME to the tracker)."""

    @domain_group.command("add")
    @click.argument("space")
    @click.argument("hostname")
    @click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
    def add_domain_command(space, hostname, as_json):
        """Add a landing hostname and print the CNAME record to create for it."""
        target = domains.cname_target()
        with db.transaction() as conn:
            row = _space(conn, space, as_json)
            try:
                hostname = domains.check_new_hostname(conn, row["id"], hostname)
            except LinkError as exc:
                _fail(as_json, str(exc))
            domain = store.create_domain(conn, row["id"], hostname, clock.now())
        payload = {"ok": True, "space": row["slug"], **_domain_json(domain)}
        _emit(as_json, payload, f"{hostname} added. Create this DNS record, then run `domain verify`:\n"
                                f"  {hostname}. CNAME {target}.")

    @domain_group.command("verify")
    @click.argument("space")
    @click.argument("hostname")
    @click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
    def verify_domain_command(space, hostname, as_json):
        """Check the hostname's DNS; once it points at the tracker, its landings answer."""
        hostname = hostname.strip().lower().rstrip(".")
        with db.connection() as conn:
            row = _space(conn, space, as_json)
        try:
            domain = domains.verify_domain(row["id"], hostname)
        except store.NotFound:
            _fail(as_json, f"{hostname} is not a domain of {row['slug']} (add it with `domain add`)")
        except store.HostnameTaken as exc:
            _fail(as_json, str(exc))
        payload = {"ok": True, "space": row["slug"], **_domain_json(domain)}
        _emit(as_json, payload, ("verified: " if payload["verified"] else "not verified: ") + domain["check_note"])

    @domain_group.command("list")
    @click.argument("space")
    @click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
    def list_domains_command(space, as_json):
        """List the space's landing hostnames and whether each is verified."""
        with db.connection() as conn:
            row = _space(conn, space, as_json)
            rows = [_domain_json(d) for d in store.list_domains(conn, row["id"])]
        _emit(as_json, {"ok": True, "space": row["slug"], "cname_target": domains.cname_target(), "domains": rows},
              "\n".join(f"{r['hostname']}\t{'verified' if r['verified'] else 'unverified'}" for r in rows)
              or "no domains")

    @domain_group.command("remove")
    @click.argument("space")
    @click.argument("hostname")
    @click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
    def remove_domain_command(space, hostname, as_json):
        """Stop serving landings on a hostname."""
        hostname = hostname.strip().lower().rstrip(".")
        with db.connection() as conn:
            row = _space(conn, space, as_json)
            removed = store.delete_domain(conn, row["id"], hostname)
        if not removed:
            _fail(as_json, f"{hostname} is not a domain of {row['slug']}")
        _emit(as_json, {"ok": True, "space": row["slug"], "hostname": hostname, "removed": True},
              f"{hostname} removed")
