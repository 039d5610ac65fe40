"""Custom landing domains: where a customer points a hostname, and checking that it does."""
from urllib.parse import urlsplit

from flask import current_app

from app import db, services
from app.lib import clock
from app.lib.dns import Resolver, points_at
from app.link import store
from app.link.parse import LinkError, check_hostname


def cname_target() -> str:
    """The hostname customers CNAME their landing domains to: CNAME_TARGET, else PUBLIC_URL's host."""
    config = current_app.config
    return config["CNAME_TARGET"] or (urlsplit(config["PUBLIC_URL"]).hostname or "").lower()


def check_new_hostname(conn, space_id: int, raw) -> str:
    """A hostname the space may add: well-formed, not the tracker's own, not verified by another space.

    Raises LinkError with the reason; another space's claim is reported without naming the space.
    """
    hostname = check_hostname(raw)
    if hostname == cname_target() or hostname in services.of(current_app).landing.tracker_hosts:
        raise LinkError(f"{hostname} is the tracker's own host; add the customer's hostname instead")
    if store.hostname_verified_elsewhere(conn, space_id, hostname):
        raise LinkError(f"{hostname} is already verified by another space")
    return hostname


def resolver() -> Resolver:
    """The app's DNS resolver (tests install their own as services.of(app).resolver)."""
    return services.of(current_app).resolver


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
