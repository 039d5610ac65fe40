"""The one place XTRACKER asks for the time, so tests can move it (app.config["CLOCK"])."""
from datetime import datetime, timezone

from flask import current_app, has_app_context


def system_now() -> datetime:
    """Aware UTC now from the system clock."""
    return datetime.now(timezone.utc)


def now() -> datetime:
    """Aware UTC now from the app's clock (the system clock unless a test installed another)."""
    if has_app_context():
        return current_app.config.get("CLOCK", system_now)()
    return system_now()


def to_ms(moment: datetime) -> int:
    """Epoch milliseconds of an aware datetime."""
    return int(moment.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    """Aware UTC datetime of epoch milliseconds."""
    return datetime.fromtimestamp(ms / 1000, timezone.utc)
