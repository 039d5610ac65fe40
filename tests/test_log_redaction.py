"""The log redaction rule: secret parameters, XTRACKER secrets, Bearer credentials and URLs."""
import logging

import pytest

from app.lib import log_redaction


@pytest.mark.parametrize("raw, secret", [
    ("GET /e?token=xti_AbCdEf123456&event=deposit HTTP/1.1", "xti_AbCdEf123456"),
    ("Invalid HTTP request line: 'GET /e?token=abc123secret x HTTP/1.1'", "abc123secret"),
    ("GET /pb?api_key=K3y&uid=1", "K3y"), ("GET /pb?postbackKey=K3y2&uid=1", "K3y2"),
    ("password=hunter2&email=a@b.c", "hunter2"), ("csrf_token=c5rf", "c5rf"), ("xt_session=s3ss", "s3ss"),
    ('{"access_token": "EAAB123", "pixel_id": "1"}', "EAAB123"), ("{'secret': 'whsec_abc'}", "whsec_abc"),
    ("Authorization: Bearer xtb_Zz9_abcdef", "xtb_Zz9_abcdef"), ("Authorization: Bearer eyJhbGciOi.x.y", "eyJhbGciOi"),
    ("found xtb_ABCDEFGH123 in a parameter", "xtb_ABCDEFGH123"),
    ("POST https://user:pa55@partner.example/pb/S3cretPath?k=1 failed", "S3cretPath"),
    ("POST https://user:pa55@partner.example/pb/S3cretPath?k=1 failed", "pa55"),
])
def test_it_masks_every_secret(raw, secret):
    shown = log_redaction.redact(raw)
    assert secret not in shown
    assert shown != raw


def test_it_keeps_what_an_operator_needs():
    assert log_redaction.redact("destination 12 of space 3 (postback, host partner.example): 2 attempt(s) failed") == \
        "destination 12 of space 3 (postback, host partner.example): 2 attempt(s) failed"
    assert log_redaction.redact("POST https://partner.example/pb?x=1") == "POST https://partner.example/…"
    assert log_redaction.redact("Invalid request from ip=10.0.0.1: bad") == "Invalid request from ip=10.0.0.1: bad"


def test_records_are_redacted_when_created_messages_args_and_tracebacks(caplog):
    log_redaction.install()
    log_redaction.install()
    logger = logging.getLogger("xt-test-redaction")
    with caplog.at_level(logging.INFO, logger="xt-test-redaction"):
        logger.info("request %s", "/e?token=xti_Secret123456")
        try:
            raise ValueError("https://partner.example/pb?key=Inner777")
        except ValueError:
            logger.exception("failed for %s", "api_key=Outer888")
    text = caplog.text
    assert "xti_Secret123456" not in text and "Inner777" not in text and "Outer888" not in text
    assert "token=[redacted]" in text and "https://partner.example/…" in text and "Traceback" in text
