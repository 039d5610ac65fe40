"""Security headers on every response (docs/security.md#security-headers).

HTML responses get a Content-Security-Policy without inline script: scripts and styles come from
this origin's static files, and the few inline blocks (the landing page's redirect, the docs
page's styles) carry the response's nonce. Framing is refused (`frame-ancestors 'none'` and
X-Frame-Options DENY). Every response gets nosniff and a Referrer-Policy (a view may set a
stricter one, as the invitation page does), and HSTS when the request came over HTTPS — directly
or, per a trusted proxy (TRUSTED_PROXIES), X-Forwarded-Proto / Cloudflare's CF-Visitor.
"""
import re
import secrets

from flask import Flask, current_app, g, request

from app import services

HSTS = "max-age=31536000"
_HOST_RE = re.compile(r"[A-Za-z0-9.:\[\]-]{1,262}")
REFERRER_POLICY = "strict-origin-when-cross-origin"


def csp_nonce() -> str:
    """This response's CSP nonce (made on first use): put it on an inline <script> or <style>."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return g.csp_nonce


def content_security_policy(nonce: str | None, host: str) -> str:
    """The policy of an HTML response; `nonce` admits the response's own inline blocks.

    connect-src names the page's own host for ws:// and wss:// (the deck's live feed) because
    not every browser lets 'self' cover websockets.
    """
    own = f" 'nonce-{nonce}'" if nonce else ""
    sockets = f" ws://{host} wss://{host}" if _HOST_RE.fullmatch(host) else ""
    return ("default-src 'self'; "
            f"script-src 'self'{own}; "
            f"style-src 'self'{own}; "
            "img-src 'self' data:; "
            f"connect-src 'self'{sockets}; "
            "object-src 'none'; "
            "base-uri 'none'; "
            "form-action 'self'; "
            "frame-ancestors 'none'")


def served_over_https() -> bool:
    """True when the visitor's connection is HTTPS: this server's own, or as a trusted proxy reports it."""
    if request.is_secure:
        return True
    if not services.of(current_app).proxies.trusts(request.remote_addr):
        return False
    if request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower() == "https":
        return True
    return '"scheme":"https"' in request.headers.get("CF-Visitor", "").replace(" ", "")


def add_security_headers(response):
    """Set the headers above on `response` (an after_request hook)."""
    headers = response.headers
    headers["X-Content-Type-Options"] = "nosniff"
    headers.setdefault("Referrer-Policy", REFERRER_POLICY)
    if response.mimetype == "text/html":
        headers["Content-Security-Policy"] = content_security_policy(g.get("csp_nonce"), request.host)
        headers["X-Frame-Options"] = "DENY"
    if served_over_https():
        headers["Strict-Transport-Security"] = HSTS
    return response


def install(app: Flask) -> None:
    """Register the hook and the templates' `csp_nonce()`."""
    app.after_request(add_security_headers)
    app.jinja_env.globals["csp_nonce"] = csp_nonce
