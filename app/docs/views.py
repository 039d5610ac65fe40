"""GET /docs and /docs/<page>: the Markdown pages of docs/ rendered server-side.

Only names of [a-z0-9-]+ (optionally with `.md`, so links written for a repository browser
work here too) are looked up, and only inside docs/: anything else is a 404 page, never a
file read. Links between pages (`quickstart.md`, `api.md#status-values-and-http-codes`) are
rewritten to their /docs URLs; headings get GitHub-style ids so those anchors resolve.
"""
import re
from pathlib import Path

from flask import Blueprint, current_app, render_template, url_for
from markdown_it import MarkdownIt
from markupsafe import Markup

bp = Blueprint("docs", __name__)

INDEX = "README"
PAGE_RE = re.compile(r"[a-z0-9-]+")
_PAGE_LINK_RE = re.compile(r"(README|[a-z0-9-]+)\.md(#[A-Za-z0-9_-]*)?")
_SLUG_DROP_RE = re.compile(r"[^\w\- ]", re.UNICODE)


def docs_dir() -> Path:
    """The docs/ folder next to the app package."""
    return Path(current_app.root_path).parent / "docs"


def heading_slug(text: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    return _SLUG_DROP_RE.sub("", text.strip().lower()).replace(" ", "-")


def page_for_link(href: str) -> tuple[str, str] | None:
    """(page name, #anchor or "") when `href` is a relative link to another docs page, else None."""
    match = _PAGE_LINK_RE.fullmatch(href)
    if match is None:
        return None
    return match.group(1), match.group(2) or ""


def _markdown() -> MarkdownIt:
    # CommonMark plus tables; raw HTML in a page is shown as text, never passed through.
    md = MarkdownIt("commonmark", {"html": False, "typographer": False}).enable("table")

    def add_heading_ids(state) -> None:
        seen: dict[str, int] = {}
        tokens = state.tokens
        for i, token in enumerate(tokens):
            if token.type != "heading_open":
                continue
            slug = heading_slug("".join(t.content for t in tokens[i + 1].children or []
                                        if t.type in ("text", "code_inline")))
            # Repeated headings get -1, -2 … as on GitHub.
            count = seen.get(slug, 0)
            seen[slug] = count + 1
            token.attrSet("id", slug if count == 0 else f"{slug}-{count}")

    def rewrite_page_links(state) -> None:
        for block in state.tokens:
            for token in block.children or []:
                if token.type != "link_open":
                    continue
                target = page_for_link(str(token.attrGet("href") or ""))
                if target is not None:
                    name, anchor = target
                    token.attrSet("href", (url_for("docs.show_index") if name == INDEX
                                           else url_for("docs.show_page", page=name)) + anchor)

    md.core.ruler.push("xt_heading_ids", add_heading_ids)
    md.core.ruler.push("xt_page_links", rewrite_page_links)
    return md


MARKDOWN = _markdown()


def _title(source: str, fallback: str) -> str:
    for line in source.splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return fallback


def _not_found():
    return render_template("docs/page.html", title="Page not found", body=None, page=None), 404


def _render(name: str):
    path = docs_dir() / f"{name}.md"
    if not path.is_file():
        return _not_found()
    source = path.read_text(encoding="utf-8")
    body = Markup(MARKDOWN.render(source))
    return render_template("docs/page.html", title=_title(source, name), body=body, page=name)


@bp.get("/docs", strict_slashes=False)
def show_index():
    """The documentation index (docs/README.md)."""
    return _render(INDEX)


@bp.get("/docs/<path:page>")
def show_page(page: str):
    """One documentation page, by name with or without `.md`; anything else is a 404 page."""
    name = page[:-3] if page.endswith(".md") else page
    if name == INDEX:
        return show_index()
    if not PAGE_RE.fullmatch(name):
        return _not_found()
    return _render(name)
