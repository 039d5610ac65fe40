"""IANA time zone names."""
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def is_time_zone(name: str) -> bool:
    """True when `name` is an IANA time zone this machine knows (e.g. Europe/Berlin)."""
    try:
        ZoneInfo(name)
        return True
    except (ZoneInfoNotFoundError, ValueError):
        return False
