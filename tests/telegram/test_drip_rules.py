"""The drip editor's rules: delays, Telegram HTML, URL buttons."""
import pytest

from app.telegram.drip import DripError, check_text, format_delay, parse_buttons, parse_delay, parse_steps


@pytest.mark.parametrize("raw, seconds", [("now", 0), ("", 0), ("0", 0), ("90s", 90), ("30m", 1800),
                                          ("+1h", 3600), ("24h", 86400), ("2d", 172800), ("45", 45)])
def test_it_reads_delays(raw, seconds):
    assert parse_delay(raw) == seconds
    assert parse_delay(format_delay(seconds)) == seconds


@pytest.mark.parametrize("raw", ["tomorrow", "-1h", "1w", "31d", "1.5h"])
def test_it_refuses_unreadable_or_long_delays(raw):
    with pytest.raises(DripError):
        parse_delay(raw)


def test_it_accepts_telegram_html_and_refuses_what_telegram_would():
    assert check_text('<b>Welcome</b> to <a href="https://t.me/x">the channel</a> &amp; more') .startswith("<b>")
    for bad, reason in (("<div>x</div>", "<div>"), ("<b>x", "never closed"), ("<b><i>x</b></i>", "does not close"),
                        ('<a href="javascript:alert(1)">x</a>', "href"), ("", "required"), ("x" * 4097, "4096")):
        with pytest.raises(DripError, match=reason):
            check_text(bad)


def test_it_reads_buttons_one_per_line():
    assert parse_buttons("Open the bot | https://t.me/funnel_bot?start=w\n\nSite | https://example.com") == [
        {"text": "Open the bot", "url": "https://t.me/funnel_bot?start=w"}, {"text": "Site", "url": "https://example.com"}]
    with pytest.raises(DripError, match="line 1"):
        parse_buttons("no url here")


def test_it_collects_every_problem_by_step_and_field():
    steps, errors = parse_steps([{"delay": "now", "text": "<b>Hi</b>", "buttons": ""},
                                 {"delay": "later", "text": "<div>", "buttons": "x"},
                                 {"delay": "", "text": "", "buttons": ""}])
    assert steps == [] and set(errors) == {"2.delay", "2.text", "2.buttons"}
    steps, errors = parse_steps([{"delay": "1h", "text": "Day one", "buttons": "Go | https://example.com"}])
    assert errors == {} and steps == [{"delay_seconds": 3600, "text_html": "Day one",
                                       "buttons": [{"text": "Go", "url": "https://example.com"}]}]
