"""Telling link-preview crawlers and obvious bots from people, by User-Agent.

A landing shows such visitors the page but mints no click, so previews of a link pasted into
Telegram, Facebook or Slack do not count as traffic. The test is deliberately conservative:
a browser is never taken for a bot because of a phone model name (Cubot, Robot…).
"""
import re

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


def is_bot(user_agent: str | None) -> bool:
    """True for an empty User-Agent, a known crawler or HTTP library, or a self-declared bot."""
    if not user_agent or not user_agent.strip():
        return True
    lowered = user_agent.lower()
    return bool(_KNOWN_RE.search(lowered) or _GENERIC_RE.search(lowered))
