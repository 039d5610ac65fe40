"""Security headers: a CSP without inline script on every HTML response, no framing, nosniff, HSTS over HTTPS."""
import re
from pathlib import Path

import pytest

from tests.conftest import ROOT, bearer
from tests.landing.landing_helpers import BROWSER_UA, make_link
from tests.setup.conftest import html, login
from tests.setup.test_every_space_route import space_routes

TEMPLATES = ROOT / "templates"


def policy(response) -> dict[str, str]:
    """The response's CSP as {directive: sources}."""
    header = response.headers["Content-Security-Policy"]
    return {part.split()[0]: " ".join(part.split()[1:]) for part in (p.strip() for p in header.split(";")) if part}


def assert_locked_down(response, path: str) -> None:
    """HTML answer: the CSP forbids inline script and framing; the page's inline blocks carry its nonce."""
    assert response.mimetype == "text/html", path
    csp = policy(response)
    assert csp["frame-ancestors"] == "'none'", path
    for directive in ("script-src", "style-src"):
        assert "'unsafe-inline'" not in csp[directive] and "'unsafe-eval'" not in csp[directive], path
    assert csp["object-src"] == "'none'" and csp["base-uri"] == "'none'", path
    assert response.headers["X-Frame-Options"] == "DENY", path
    assert response.headers["X-Content-Type-Options"] == "nosniff", path
    assert response.headers["Referrer-Policy"] in ("strict-origin-when-cross-origin", "no-referrer"), path
    nonce = re.search(r"'nonce-([^']+)'", csp["script-src"])
    page = html(response)
    for tag in page.find_all(["script", "style"]):
        if tag.name == "script" and tag.get("src"):
            continue
        assert nonce and tag.get("nonce") == nonce.group(1), (path, str(tag)[:80])
    for tag in page.find_all(True):
        inline = [a for a in tag.attrs if a.startswith("on") or a.startswith("hx-on") or a == "style"]
        assert not inline, (path, tag.name, inline)


def test_every_space_page_and_partial_is_locked_down(app, login, space):
    admin = login("admin")
    make_link(app, space, "promo")
    admin.post("/events", json={"uid": "u1", "event": "contact"}, headers=bearer(space))
    checked = 0
    for method, template in space_routes(app):
        path = template.replace("<space>", space["slug"])
        if method != "GET" or "/stream" in path:
            continue
        response = admin.get(path)
        if response.status_code == 200 and response.mimetype == "text/html":
            assert_locked_down(response, path)
            checked += 1
    assert checked >= 12


@pytest.mark.parametrize("path", ["/login", "/spaces/new", "/docs/", "/docs/api", "/nowhere-at-all"])
def test_the_other_pages_are_locked_down(app, login, space, path):
    response = login("viewer").get(path)
    assert_locked_down(response, path)


def test_the_landing_page_runs_its_redirect_under_the_nonce(app, client, space):
    make_link(app, space, "promo")
    response = client.get("/promo", headers={"User-Agent": BROWSER_UA})
    assert_locked_down(response, "/promo")
    assert "location.replace" in html(response).find("script").text


def test_json_answers_get_nosniff_but_no_csp(client, space):
    response = client.post("/events", json={"uid": "u1", "event": "contact"}, headers=bearer(space))
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "Content-Security-Policy" not in response.headers


def test_hsts_only_over_https_as_the_server_or_a_trusted_proxy_sees_it(app, client):
    assert "Strict-Transport-Security" not in client.get("/login").headers
    assert client.get("/login", base_url="https://localhost").headers["Strict-Transport-Security"] == "max-age=31536000"
    via_proxy = client.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert via_proxy.headers["Strict-Transport-Security"] == "max-age=31536000"
    cloudflare = client.get("/login", headers={"CF-Visitor": '{"scheme":"https"}'})
    assert "Strict-Transport-Security" in cloudflare.headers
    outsider = app.test_client()
    outsider.environ_base["REMOTE_ADDR"] = "192.0.2.50"
    assert "Strict-Transport-Security" not in outsider.get("/login", headers={"X-Forwarded-Proto": "https"}).headers


def test_no_template_carries_inline_script_handlers_or_styles():
    offenders = []
    for path in TEMPLATES.rglob("*.html"):
        text = path.read_text()
        for pattern in (r"<script(?![^>]*\b(src|nonce)=)[^>]*>", r"\son[a-z]+\s*=", r"\shx-on[:-]", r"\sstyle\s*=",
                        r"<style(?![^>]*\bnonce=)[^>]*>"):
            offenders += [f"{path.relative_to(ROOT)}: {m.group(0)}" for m in re.finditer(pattern, text)]
    assert not offenders, offenders
