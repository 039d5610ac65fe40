"""Where a link can be reached: its landing URLs on the tracker and on the space's verified domains."""
import psycopg
from flask import current_app

from app.link import store
from app.link.parse import CHAT_ID_RE, destination
from app.link.rows import Link

# An example uid (22 of [A-Za-z0-9_-], like a minted one) for showing what a deep link looks like.
SAMPLE_UID = "Sample_uid-0123456789a"


def landing_urls(link: Link, verified_hosts: list[str]) -> dict:
    """The link's landing URL on the tracker (PUBLIC_URL) and on each verified custom domain (https)."""
    return {"landing_url": f"{current_app.config['PUBLIC_URL']}/{link.slug}",
            "domain_urls": [f"https://{host}/{link.slug}" for host in verified_hosts]}


def verified_hosts(conn: psycopg.Connection, space_id: int) -> list[str]:
    """The space's verified landing hostnames, alphabetically."""
    return [d["hostname"] for d in store.list_domains(conn, space_id) if d["verified_at"] is not None]


def sample_deep_link(link: Link) -> str:
    """Where a click on the link is sent, shown with SAMPLE_UID in place of a real uid."""
    if link.kind == "channel" and CHAT_ID_RE.fullmatch(link.target):
        return f"a per-click invite link (https://t.me/+…) of channel {link.target}"
    return destination(link.kind, link.target, SAMPLE_UID)
