"""The small helpers behind the landing: bot detection, proxy trust, DNS checks."""
import pytest

from app.lib import dns, proxies, useragents


@pytest.mark.parametrize("ua", [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"
    " [FBAN/FBIOS;FBAV/470.0.0.38.109]",
    "Mozilla/5.0 (Linux; Android 13; CUBOT X30 Build/TP1A) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0"
    " Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0 Mobile Safari/537.36"
    " Instagram 330.0.0.40.92 Android",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:126.0) Gecko/20100101 Firefox/126.0",
])
def test_browsers_and_in_app_browsers_are_people(ua):
    assert not useragents.is_bot(ua)


@pytest.mark.parametrize("ua", [
    "facebookexternalhit/1.1", "Facebot", "TelegramBot (like TwitterBot)", "Slackbot-LinkExpanding 1.0",
    "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)", "python-httpx/0.28.1",
    "Mozilla/5.0 (compatible; SomeNewBot/0.1)", "Mozilla/5.0 (X11; Linux x86_64) HeadlessChrome/126.0", "", "  ",
    None,
])
def test_crawlers_previews_and_http_libraries_are_bots(ua):
    assert useragents.is_bot(ua)


def test_the_cloudflare_keyword_expands_to_its_ranges_and_bad_entries_are_named():
    trusted = proxies.TrustedProxies(proxies.parse_networks("cloudflare, 10.0.0.0/8"))
    assert trusted.trusts("104.16.1.1") and trusted.trusts("10.1.2.3") and trusted.trusts("2606:4700::1")
    assert not trusted.trusts("8.8.8.8") and not trusted.trusts("8.8.8.8") and not trusted.trusts("junk")
    with pytest.raises(ValueError, match="'nope'"):
        proxies.parse_networks("nope")


def test_the_client_address_comes_from_trusted_proxies_only():
    trusted = proxies.TrustedProxies(proxies.parse_networks("127.0.0.0/8,10.0.0.0/8"))
    assert proxies.client_address("8.8.8.8", {"CF-Connecting-IP": "1.2.3.4"}, trusted) == "8.8.8.8"
    assert proxies.client_address("127.0.0.1", {"CF-Connecting-IP": "1.2.3.4"}, trusted) == "1.2.3.4"
    # The browser's own X-Forwarded-For entry is ignored: the rightmost untrusted hop is the client.
    xff = {"X-Forwarded-For": "6.6.6.6, 5.5.5.5, 10.0.0.2"}
    assert proxies.client_address("127.0.0.1", xff, trusted) == "5.5.5.5"
    assert proxies.client_address("::ffff:127.0.0.1", {}, trusted) == "127.0.0.1"


class FakeResolver:
    """DNS answers given by the test."""

    def __init__(self, cnames=None, addresses=None):
        self.cnames = cnames or {}
        self.addr = addresses or {}

    def cname(self, hostname):
        return self.cnames.get(hostname)

    def addresses(self, hostname):
        return frozenset(self.addr.get(hostname, ()))


def test_a_cname_chain_reaching_the_target_passes():
    resolver = FakeResolver(cnames={"go.shop.example": "lb.shop.example", "lb.shop.example": "t.xtracker.example"})
    assert dns.points_at(resolver, "go.shop.example", "t.xtracker.example")[0]


def test_flattened_records_pass_when_the_addresses_match():
    resolver = FakeResolver(addresses={"go.shop.example": {"104.16.1.1"}, "t.xtracker.example": {"104.16.1.1"}})
    assert dns.points_at(resolver, "go.shop.example", "t.xtracker.example")[0]


def test_a_name_pointing_elsewhere_or_nowhere_fails_with_a_reason():
    elsewhere = FakeResolver(cnames={"go.shop.example": "other.example"}, addresses={"t.xtracker.example": {"1.1.1.1"}})
    passed, note = dns.points_at(elsewhere, "go.shop.example", "t.xtracker.example")
    assert not passed and "other.example" in note
    passed, note = dns.points_at(FakeResolver(), "go.shop.example", "t.xtracker.example")
    assert not passed and "CNAME" in note and "t.xtracker.example" in note


def test_a_minted_uid_never_starts_with_a_dash_and_fits_a_deep_link():
    from app.lib import tokens
    uids = [tokens.new_uid() for _ in range(5_000)]  # one in 64 random uids would start with '-'
    assert not [u for u in uids if u.startswith("-")]
    assert all(tokens.UID_RE.fullmatch(u) and tokens.uid_from_start(tokens.START_PREFIX + u) == u for u in uids)
