"""The welcome drip's rules: each step's delay, its HTML text as Telegram accepts it, its URL buttons.

Telegram's HTML parse mode (https://core.telegram.org/bots/api#html-style) knows only a few
tags; anything else makes sendMessage fail with 400, so the editor refuses it up front.
"""
import re
from html.parser import HTMLParser

MAX_STEPS = 20
MAX_TEXT = 4096
MAX_BUTTONS = 8
MAX_DELAY_SECONDS = 30 * 86400
ALLOWED_TAGS = frozenset({"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre",
                          "tg-spoiler", "span", "blockquote", "tg-emoji"})
_DELAY_RE = re.compile(r"\+?\s*([0-9]{1,7})\s*(s|m|min|h|d)?", re.IGNORECASE)
_UNITS = {None: 1, "s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}
_URL_RE = re.compile(r"(https?://|tg://)[^\s<>\"]{1,2000}")


class DripError(ValueError):
    """A step cannot be sent as written; the message says which field and why."""


def parse_delay(raw: str) -> int:
    """`0`, `now`, `90s`, `30m`, `+1h`, `24h`, `2d` → seconds after the join request (at most 30 days)."""
    text = (raw or "").strip().lower()
    if text in ("", "now", "0"):
        return 0
    match = _DELAY_RE.fullmatch(text)
    if not match:
        raise DripError(f"delay {raw[:20]!r} must look like now, 90s, 30m, 1h, 24h or 2d")
    seconds = int(match.group(1)) * _UNITS[match.group(2)]
    if seconds > MAX_DELAY_SECONDS:
        raise DripError("delay must be at most 30 days")
    return seconds


def format_delay(seconds: int) -> str:
    """The shortest way back to what parse_delay reads: now, 45s, 30m, 1h, 2d."""
    if seconds == 0:
        return "now"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


class _TagCheck(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.problem: str | None = None

    def handle_starttag(self, tag, attrs):
        if tag not in ALLOWED_TAGS:
            self.problem = self.problem or f"<{tag}> is not a tag Telegram's HTML allows"
        if tag == "a" and not any(k == "href" and v and _URL_RE.fullmatch(v) for k, v in attrs):
            self.problem = self.problem or "<a> needs an href starting with http://, https:// or tg://"
        self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.problem = self.problem or f"</{tag}> does not close the tag opened last"
        else:
            self.stack.pop()


def check_text(raw: str) -> str:
    """1–4,096 characters of Telegram HTML: only its tags, properly nested."""
    text = (raw or "").replace("\r\n", "\n").strip()
    if not text:
        raise DripError("text is required")
    if len(text) > MAX_TEXT:
        raise DripError(f"text must be at most {MAX_TEXT} characters")
    checker = _TagCheck()
    checker.feed(text)
    checker.close()
    if checker.problem:
        raise DripError(checker.problem)
    if checker.stack:
        raise DripError(f"<{checker.stack[-1]}> is never closed")
    return text


def parse_buttons(raw: str) -> list[dict]:
    """One button per line, `Label | https://url`; at most 8."""
    buttons = []
    for number, line in enumerate((raw or "").splitlines(), start=1):
        if not line.strip():
            continue
        label, sep, url = line.partition("|")
        if not sep or not label.strip() or not _URL_RE.fullmatch(url.strip()):
            raise DripError(f"button line {number} must be `Label | https://…`")
        if len(label.strip()) > 64:
            raise DripError(f"button line {number}: the label must be at most 64 characters")
        buttons.append({"text": label.strip(), "url": url.strip()})
    if len(buttons) > MAX_BUTTONS:
        raise DripError(f"at most {MAX_BUTTONS} buttons per message")
    return buttons


def format_buttons(buttons: list[dict]) -> str:
    """Buttons back into the editor's `Label | URL` lines."""
    return "\n".join(f"{b['text']} | {b['url']}" for b in buttons)


def parse_steps(rows: list[dict]) -> tuple[list[dict], dict[str, str]]:
    """Editor rows ({delay, text, buttons} as typed) → (steps, {}) or ([], {"<n>.<field>": reason}).

    Blank rows are dropped; steps keep their order. Delays count from the join request.
    """
    steps, errors = [], {}
    for number, row in enumerate(rows, start=1):
        if not (row.get("text") or "").strip() and not (row.get("buttons") or "").strip():
            continue
        step = {}
        for field, check, target in (("delay", parse_delay, "delay_seconds"), ("text", check_text, "text_html"),
                                     ("buttons", parse_buttons, "buttons")):
            try:
                step[target] = check(row.get(field) or "")
            except DripError as exc:
                errors[f"{number}.{field}"] = str(exc)
        steps.append(step)
    if len(steps) > MAX_STEPS:
        errors["steps"] = f"at most {MAX_STEPS} steps"
    return ([], errors) if errors else (steps, {})
