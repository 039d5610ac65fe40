"""Saving a link: slugs, reserved paths, targets, modes and defaults; and where a click is sent."""
import pytest

from app.link.parse import LinkError, check_hostname, destination, parse_link, reserved_slugs
from tests.landing.landing_helpers import make_link


def reserved(app):
    return reserved_slugs(rule.rule for rule in app.url_map.iter_rules())


@pytest.mark.parametrize("slug", ["", "login", "Logout", "spaces", "static", "docs", "healthz", "readyz", "events",
                                  "e", "bind", "clicks", "api", "ws", "sse", "admin", "EVENTS"])
def test_slugs_that_would_shadow_the_apps_routes_are_refused(app, slug):
    with pytest.raises(LinkError):
        parse_link({"slug": slug, "kind": "bot", "target": "xt_funnel_bot"}, reserved(app))


def test_the_reserved_list_follows_the_live_route_map(app):
    found = reserved(app)
    assert {"healthz", "events", "bind", "clicks", "e"} <= found
    assert reserved_slugs(["/reports/<space>", "/<slug>"]) >= {"reports"}
    assert "<slug>" not in found


@pytest.mark.parametrize("slug", ["a", "Promo_1", "spring-sale-2026", "x" * 64])
def test_ordinary_slugs_are_accepted(app, slug):
    assert parse_link({"slug": slug, "kind": "bot", "target": "@xt_funnel_bot"}, reserved(app)).slug == slug


@pytest.mark.parametrize("slug", ["-start", "has space", "dots.no", "x" * 65, "ü"])
def test_malformed_slugs_are_refused(app, slug):
    with pytest.raises(LinkError, match="slug"):
        parse_link({"slug": slug, "kind": "bot", "target": "xt_funnel_bot"}, reserved(app))


@pytest.mark.parametrize("kind,target,stored", [
    ("bot", "@XT_Funnel_bot", "XT_Funnel_bot"),
    ("bot", "https://t.me/xt_funnel_bot?start=x", "xt_funnel_bot"),
    ("channel", "@xt_news", "https://t.me/xt_news"),
    ("channel", "t.me/+AbCdEfGh1234", "https://t.me/+AbCdEfGh1234"),
    ("web", "https://shop.example/p?x={uid}", "https://shop.example/p?x={uid}"),
])
def test_targets_are_normalised_per_kind(app, kind, target, stored):
    assert parse_link({"slug": "s", "kind": kind, "target": target}, reserved(app)).target == stored


@pytest.mark.parametrize("kind,target", [
    ("bot", "not_a_bot_name"), ("bot", "ab"), ("bot", ""), ("channel", "a b"), ("web", "javascript:alert(1)"),
    ("web", "ftp://x.example/"), ("web", "https://x.example/a b"), ("sms", "x"),
])
def test_unusable_targets_are_refused(app, kind, target):
    with pytest.raises(LinkError):
        parse_link({"slug": "s", "kind": kind, "target": target}, reserved(app))


def test_campaign_defaults_take_known_fields_only(app):
    link = parse_link({"slug": "s", "kind": "bot", "target": "xt_funnel_bot",
                       "campaign_defaults": {"utm_source": "facebook", "utm_term": ""}}, reserved(app))
    assert link.campaign_defaults == {"utm_source": "facebook"}
    with pytest.raises(LinkError, match="fbclid"):
        parse_link({"slug": "s", "kind": "bot", "target": "xt_funnel_bot", "campaign_defaults": {"fbclid": "x"}},
                   reserved(app))


def test_a_bot_deep_link_fits_telegrams_start_parameter():
    uid = "A" * 61
    url = destination("bot", "xt_funnel_bot", uid)
    assert url == f"https://t.me/xt_funnel_bot?start=fb_{uid}"
    assert len(url.split("start=")[1]) == 64


def test_a_slug_is_unique_across_spaces(app, space, other_space):
    from app.link.store import SlugTaken
    make_link(app, space, "promo")
    with pytest.raises(SlugTaken):
        make_link(app, other_space, "promo")


@pytest.mark.parametrize("raw,ok", [("Go.Shop.Example.", "go.shop.example"), ("localhost", None),
                                    ("https://go.shop.example", None), ("go.shop.example:8080", None),
                                    ("10.0.0.1", None), ("a..b", None)])
def test_custom_hostnames_are_plain_dns_names(raw, ok):
    if ok:
        assert check_hostname(raw) == ok
    else:
        with pytest.raises(LinkError):
            check_hostname(raw)
