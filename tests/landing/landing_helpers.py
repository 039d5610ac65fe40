"""Shared helpers of the landing and link tests: making links and domains, reading clicks."""
from app import db as app_db
from app.lib import clock
from app.link import store as link_store
from app.link.parse import parse_link, reserved_slugs

BROWSER_UA = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko)"
              " Mobile/15E148 [FBAN/FBIOS;FBAV/470.0.0.38.109]")


def make_link(app, space: dict, slug: str, kind: str = "bot", target: str = "xt_funnel_bot", **fields) -> dict:
    """Create a link in `space` through the store, exactly as the CLI does."""
    with app.app_context():
        reserved = reserved_slugs(rule.rule for rule in app.url_map.iter_rules())
        link_in = parse_link({"slug": slug, "kind": kind, "target": target, **fields}, reserved)
        with app_db.transaction() as conn:
            return link_store.create_link(conn, space["id"], link_in, clock.now())


def make_domain(app, space: dict, hostname: str, verified: bool = True) -> dict:
    """Add a custom domain to `space`, marked verified (or not) without asking DNS."""
    with app.app_context():
        with app_db.transaction() as conn:
            link_store.create_domain(conn, space["id"], hostname, clock.now())
            return link_store.update_domain_check(conn, space["id"], hostname, passed=verified,
                                                  note="set by the test", now=clock.now())


def clicks(db) -> list[dict]:
    """Every click row, oldest first."""
    return db.execute(
        "SELECT space_id, uid, created_at, source, link_id, link_slug, fbclid, fbc, fbp, campaign_name, campaign_id,"
        " adset_name, adset_id, ad_name, ad_id, utm_source, utm_medium, utm_campaign, utm_content, utm_term,"
        " raw_query, referrer, host(client_ip) AS client_ip, user_agent, country FROM clicks ORDER BY created_at, uid"
    ).fetchall()


def open_landing(client, path: str, ua: str = BROWSER_UA, **headers):
    """GET a landing with a browser's User-Agent."""
    return client.get(path, headers={"User-Agent": ua, **headers})
