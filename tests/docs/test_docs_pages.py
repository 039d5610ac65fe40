"""The documentation served at /docs: every page renders, links resolve, nothing else is readable."""
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from markdown_it import MarkdownIt

from app.docs.views import heading_slug

DOCS = Path(__file__).resolve().parents[2] / "docs"
PAGES = sorted(p.stem for p in DOCS.glob("*.md"))
GUIDE_CLIENT = Path(__file__).resolve().parents[1] / "ingress" / "guide_client.py"


class Page(HTMLParser):
    """The parts of a rendered page the tests look at: title, first h1, element ids, link targets."""

    def __init__(self, html: str):
        super().__init__()
        self.title = ""
        self.h1 = ""
        self.ids: set[str] = set()
        self.hrefs: list[str] = []
        self._in: str | None = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("href") is not None:
            self.hrefs.append(attrs["href"])
        if tag in ("title", "h1") and not getattr(self, tag):
            self._in = tag

    def handle_endtag(self, tag):
        if tag == self._in:
            self._in = None

    def handle_data(self, data):
        if self._in:
            setattr(self, self._in, getattr(self, self._in) + data)


def markdown_title(name: str) -> str:
    return next(line[2:].strip() for line in (DOCS / f"{name}.md").read_text().splitlines() if line.startswith("# "))


def markdown_links(name: str) -> list[str]:
    """Every link target written in a page's Markdown."""
    tokens = MarkdownIt("commonmark").enable("table").parse((DOCS / f"{name}.md").read_text())
    return [child.attrGet("href") for token in tokens for child in token.children or []
            if child.type == "link_open"]


def markdown_anchors(name: str) -> set[str]:
    tokens = MarkdownIt("commonmark").enable("table").parse((DOCS / f"{name}.md").read_text())
    return {heading_slug("".join(c.content for c in tokens[i + 1].children or [] if c.type in ("text", "code_inline")))
            for i, t in enumerate(tokens) if t.type == "heading_open"}


def url_for_page(name: str) -> str:
    return "/docs" if name == "README" else f"/docs/{name}"


def test_the_docs_folder_has_an_index_and_the_ingress_pages():
    for name in ("README", "api", "getting-started", "quickstart", "integration", "canonical-events",
                 "idempotency", "pocket-option", "playbook-deposit-counted-twice"):
        assert name in PAGES


@pytest.mark.parametrize("name", PAGES)
def test_every_docs_page_renders_as_html_with_its_title(client, name):
    response = client.get(url_for_page(name))
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = Page(response.get_data(as_text=True))
    title = markdown_title(name)
    assert page.h1.strip() == title
    assert page.title.startswith(title)
    assert "doc" in page.ids


def test_the_index_is_the_readme_with_or_without_a_trailing_slash(client):
    title = markdown_title("README")
    for path in ("/docs", "/docs/", "/docs/README", "/docs/README.md"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert Page(response.get_data(as_text=True)).h1.strip() == title


def test_a_page_answers_with_and_without_the_md_suffix(client):
    plain = client.get("/docs/idempotency")
    suffixed = client.get("/docs/idempotency.md")
    assert plain.status_code == suffixed.status_code == 200
    assert plain.get_data() == suffixed.get_data()


@pytest.mark.parametrize("name", PAGES)
def test_links_between_pages_resolve_in_the_app(client, name):
    page = Page(client.get(url_for_page(name)).get_data(as_text=True))
    for href in page.hrefs:
        parts = urlsplit(href)
        if parts.scheme or parts.netloc:
            continue
        if not parts.path:
            assert parts.fragment in page.ids, f"{name}: {href}"
            continue
        assert parts.path == "/docs" or parts.path.startswith("/docs/"), f"{name}: {href} leaves /docs"
        assert not parts.path.endswith(".md"), f"{name}: {href} was not rewritten"
        target = client.get(parts.path)
        assert target.status_code == 200, f"{name}: {href}"
        if parts.fragment:
            assert parts.fragment in Page(target.get_data(as_text=True)).ids, f"{name}: {href}"


@pytest.mark.parametrize("name", PAGES)
def test_every_relative_link_in_every_docs_page_points_to_an_existing_page(name):
    for href in markdown_links(name):
        parts = urlsplit(href)
        if parts.scheme or parts.netloc:
            continue
        assert not parts.path.startswith("/"), f"{name}: {href} must be relative (it breaks on GitHub)"
        target = parts.path[:-3] if parts.path.endswith(".md") else None
        if parts.path:
            assert target is not None and (DOCS / parts.path).is_file() and "/" not in parts.path, \
                f"{name}: {href} does not name a page in docs/"
        if parts.fragment:
            assert parts.fragment in markdown_anchors(target or name), f"{name}: {href} names no heading"


def test_every_page_is_listed_in_the_index():
    listed = {urlsplit(href).path[:-3] for href in markdown_links("README")}
    assert set(PAGES) - {"README"} <= listed


def test_an_unknown_page_is_an_html_404(client):
    response = client.get("/docs/no-such-page")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "not-found" in Page(response.get_data(as_text=True)).ids


@pytest.mark.parametrize("path", [
    "/docs/../wsgi.py", "/docs/..%2Fwsgi.py", "/docs/..%2fapp%2fconfig.py", "/docs/%2e%2e/wsgi",
    "/docs/%2e%2e%2fREADME", "/docs/../README", "/docs/..", "/docs/.md", "/docs/API", "/docs/api.MD",
    "/docs/api.md.md", "/docs/sub/api", "/docs/api/", "/docs//etc/passwd",
    "/docs/%2Fetc%2Fpasswd", "/docs/~root", "/docs/api.txt",
])
def test_traversal_and_odd_names_are_a_404_that_reads_no_file(client, path):
    # A doubled slash is first redirected to its merged form (werkzeug's default); it must still end in 404.
    response = client.get(path, follow_redirects=True)
    assert response.status_code == 404, path
    body = response.get_data(as_text=True)
    assert "create_app" not in body and "root:" not in body and "XTRACKER documentation" in body


def test_a_nul_in_a_page_name_is_refused_by_the_text_rule(client):
    response = client.get("/docs/api%00")
    assert response.status_code == 400 and response.json["status"] == "invalid_text"


def test_raw_html_is_never_passed_through(client):
    # docs/api.md shows `<secret>` in code and text: it must arrive escaped, not as a tag.
    body = client.get("/docs/api").get_data(as_text=True)
    assert "&lt;secret&gt;" in body and "<secret>" not in body


def test_the_integration_guide_shows_the_tested_client_verbatim():
    text = (DOCS / "integration.md").read_text()
    start = text.index("```python\nimport httpx, time")
    block = text[start + len("```python\n"):text.index("```", start + 3)]
    assert block == GUIDE_CLIENT.read_text()
