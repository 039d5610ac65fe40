"""Times as people read them: in the space's time zone, with the date only when it is not today."""
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from app.lib import clock


def format_local(moment: datetime | None, zone: str | ZoneInfo, *, seconds: bool = True,
                 now: datetime | None = None) -> str:
    """`moment` in `zone`: '14:05:09' when it is today there, else '2026-11-30 14:05:09'; '' for None.

    A naive `moment` is taken as UTC. `seconds=False` drops the seconds.
    """
    if moment is None:
        return ""
    tz = zone if isinstance(zone, ZoneInfo) else ZoneInfo(zone)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    local = moment.astimezone(tz)
    today = (now or clock.now()).astimezone(tz).date()
    clock_part = local.strftime("%H:%M:%S" if seconds else "%H:%M")
    return clock_part if local.date() == today else f"{local.date().isoformat()} {clock_part}"
