"""Telling link-preview crawlers and obvious bots from people, by User-Agent.

A landing shows such visitors the page but mints no click, so previews of a link pasted into
Telegram, Facebook or Slack do not count as traffic. The test is deliberately conservative:
a browser is never taken for a bot because of a phone model name (Cubot, Robot…).
"""
import re
from functools import lru_cache
from typing import Mapping

_KNOWN = (
    "facebookexternalhit", "facebookcatalog", "facebot", "meta-externalagent", "meta-externalfetcher",
    "telegrambot", "twitterbot", "slackbot", "slack-imgproxy", "discordbot", "whatsapp", "linkedinbot",
    "skypeuripreview", "vkshare", "pinterestbot", "redditbot", "embedly", "iframely",
    "googlebot", "google-inspectiontool", "adsbot-google", "mediapartners-google", "apis-google",
    "google-read-aloud", "feedfetcher-google", "bingbot", "bingpreview", "msnbot", "yandex.com/bots", "baiduspider",
    "duckduckbot", "applebot", "petalbot", "semrushbot", "ahrefsbot", "mj12bot", "dotbot", "bytespider",
    "gptbot", "chatgpt-user", "claudebot", "perplexitybot", "amazonbot", "ccbot", "headlesschrome",
    "lighthouse", "pingdom", "uptimerobot", "statuscake", "curl/", "wget/", "python-requests", "python-httpx",
    "python-urllib", "aiohttp", "go-http-client", "okhttp", "java/", "libwww-perl", "httpclient", "axios/",
    "node-fetch", "undici", "scrapy", "phantomjs",
)
_KNOWN_RE = re.compile("|".join(re.escape(k) for k in _KNOWN))
# Generic crawler self-descriptions: "SomethingBot/1.2", "+http://…/bot.html", "crawler", "spider".
_GENERIC_RE = re.compile(r"[a-z]bot/|bot\.html|\+https?://|crawler|spider|preview")


# The same few thousand User-Agents arrive over and over (one per browser build and in-app
# browser), and matching one costs a landing about 0.1 ms of CPU (it asks twice: the rate limit's
# exemption and the view), so answers are remembered per process. Only strings of ordinary length
# are: a client sending long random ones must not grow the cache (gunicorn admits 32 KiB headers).
CACHED_LENGTH = 512


def is_bot(user_agent: str | None) -> bool:
    """True for an empty User-Agent, a known crawler or HTTP library, or a self-declared bot."""
    if not user_agent or not user_agent.strip():
        return True
    if len(user_agent) <= CACHED_LENGTH:
        return _names_a_bot_cached(user_agent)
    return _names_a_bot(user_agent)


def _names_a_bot(user_agent: str) -> bool:
    lowered = user_agent.lower()
    return bool(_KNOWN_RE.search(lowered) or _GENERIC_RE.search(lowered))


@lru_cache(maxsize=4096)
def _names_a_bot_cached(user_agent: str) -> bool:
    return _names_a_bot(user_agent)


# Headers with which browsers and in-app browsers mark a request made ahead of (or instead of) a
# person's navigation, and the tokens in them that mean it (docs/links.md#what-a-visit-does):
# - Sec-Purpose: prefetch, prefetch;prerender, prefetch;anonymous-client-ip — Chrome/Edge
#   speculation rules and Firefox's <link rel=prefetch> (Fetch metadata);
# - Purpose: prefetch / prerender — Chrome's and Safari's legacy header for <link rel=prefetch>;
# - X-Purpose: preview — Facebook's and Instagram's in-app browsers prefetching an ad's page (with
#   X-FB-HTTP-Engine: Liger), Safari's Top Sites previews; `instant` from Chrome Instant;
# - X-Moz: prefetch — Firefox before Sec-Purpose.
# Sec-Speculation-Tags is sent only on speculative (prefetch/prerender) navigations (Chrome 136+).
PREFETCH_HEADERS = {
    "Sec-Purpose": frozenset({"prefetch", "prerender"}),
    "Purpose": frozenset({"prefetch", "prerender", "preview"}),
    "X-Purpose": frozenset({"prefetch", "prerender", "preview", "instant"}),
    "X-Moz": frozenset({"prefetch", "prerender", "preview"}),
}
SPECULATION_HEADER = "Sec-Speculation-Tags"
_TOKEN_SPLIT_RE = re.compile(r"[\s,;]+")


def is_prefetch(headers: Mapping[str, str]) -> bool:
    """True when any prefetch, prerender or preview signal is present (no person asked for the page yet)."""
    if headers.get(SPECULATION_HEADER) is not None:
        return True
    for name, meanings in PREFETCH_HEADERS.items():
        value = headers.get(name)
        if value and any(token in meanings for token in _TOKEN_SPLIT_RE.split(value.strip().lower())):
            return True
    return False
