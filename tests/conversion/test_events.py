"""The rules about an event's fields, asked directly (no HTTP): one copy each, the same answer everywhere."""
from decimal import Decimal

import pytest

from app.conversion import events
from app.conversion.events import Rejection, parse_event
from app.received import warnings

NOW_MS = 1_764_086_400_000
WINDOW = {"received_ms": NOW_MS, "max_age_ms": 30 * 86_400_000, "max_future_ms": 3_600_000}


def _parse(**fields):
    return parse_event({"event": "deposit", **fields}, time_field="occurred_at_ms", **WINDOW)


@pytest.mark.parametrize("field", ["event", "uid", "tg_id", "value", "currency", "eid", "occurred_at_ms"])
@pytest.mark.parametrize("placeholder", ["{txid}", "%7Btxid%7D", "%257Btxid%257D", "[txid]", "%TXID%", "#txid#"])
def test_a_placeholder_is_refused_in_every_field_however_encoded(field, placeholder):
    fields = {"event": "deposit", field: placeholder}
    with pytest.raises(Rejection) as refused:
        parse_event(fields, time_field="occurred_at_ms", **WINDOW)
    assert "placeholder" in refused.value.reason
    # The received log marks the same request, by the same rule.
    assert warnings.UNEXPANDED_MACRO in warnings.detect("POST /events", fields, NOW_MS, 3_600_000, "invalid_uid")


@pytest.mark.parametrize("ms, seconds", [(events.LOOKS_LIKE_SECONDS - 1, True), (events.LOOKS_LIKE_SECONDS, False),
                                         (1_764_086_400, True), (NOW_MS, False)])
def test_the_seconds_guess_is_one_rule_for_ingest_and_the_received_log(ms, seconds):
    assert events.looks_like_seconds(ms) is seconds
    refused = None
    try:
        _parse(occurred_at_ms=ms)
    except Rejection as exc:
        refused = exc.reason
    assert (refused is not None and "looks like epoch seconds" in refused) is seconds
    from datetime import datetime, timezone
    received_at = datetime.fromtimestamp(NOW_MS / 1000, timezone.utc)
    described = warnings.describe(warnings.TIME_FAR, "POST /events", {"occurred_at_ms": ms}, received_at, "queued")
    assert ("looks like epoch seconds" in described) is seconds


@pytest.mark.parametrize("raw, ms", [("1764086400000", 1_764_086_400_000), (" 17 ", 17), (1.0, 1), (12, 12),
                                     (True, None), ("1.5", None), ("²", None), ("１２", None), ("", None),
                                     (None, None), ("9" * 41, None), (1.5, None)])
def test_a_time_is_read_as_whole_milliseconds_or_not_at_all(raw, ms):
    assert events.read_epoch_ms(raw) == ms


@pytest.mark.parametrize("fields, flags", [
    ({}, ["deposit_without_value", "deposit_without_eid"]),
    ({"value": "25", "eid": "tx1"}, []),
    ({"value": "", "eid": " "}, ["deposit_without_value", "deposit_without_eid"]),
    ({"value": "25"}, ["deposit_without_eid"]),
])
def test_the_flags_an_event_is_recorded_with_are_the_received_logs_warnings(fields, flags):
    assert _parse(**fields).flags == flags
    assert [code for code in warnings.detect("POST /events", {"event": "deposit", **fields}, NOW_MS, 10**12)
            if code.startswith("deposit_")] == flags


def test_a_value_on_another_event_is_flagged_and_not_refused():
    event = parse_event({"event": "registration", "value": "1"}, time_field="t", **WINDOW)
    assert event.value == Decimal("1.000000") and event.flags == ["value_on_non_deposit"]


def test_a_test_event_never_shares_a_dedup_key_with_the_real_one():
    real, test = _parse(eid="tx1"), _parse(eid="tx1", test=True)
    assert real.dedup_key != test.dedup_key and real.dedup_key == _parse(eid="tx1", uid="u1").dedup_key
