"""Custom landing domains: where a customer points a hostname, and checking that it does."""
from urllib.parse import urlsplit

from flask import current_app

from app import db
from app.lib import clock
from app.lib.dns import Resolver, SystemResolver, points_at
from app.link import store


def cname_target() -> str:
    """The hostname customers CNAME their landing domains to: CNAME_TARGET, else PUBLIC_URL's host."""
    config = current_app.config
    return config["CNAME_TARGET"] or (urlsplit(config["PUBLIC_URL"]).hostname or "").lower()


def resolver() -> Resolver:
    """The app's DNS resolver (tests install one as app.extensions["xt_resolver"])."""
    found = current_app.extensions.get("xt_resolver")
    if found is None:
        found = current_app.extensions["xt_resolver"] = SystemResolver()
    return found


def verify_domain(space_id: int, hostname: str) -> dict:
    """Ask DNS whether `hostname` points at the CNAME target and record the outcome; return the domain row.

    store.NotFound when the space has no such domain; store.HostnameTaken when another space
    verified it first. DNS is asked outside any transaction (it can take seconds).
    """
    with db.connection() as conn:
        store.get_domain(conn, space_id, hostname)
    passed, note = points_at(resolver(), hostname, cname_target())
    with db.connection() as conn:
        return store.update_domain_check(conn, space_id, hostname, passed=passed, note=note, now=clock.now())
