"""OGC API - Features ``datetime`` (Core §7.15.4), checked: an RFC 3339 date or date-time, or an interval of them,
each on the calendar and the clock, an interval's start not after its end; and read as the days it asks about.

The layers' times are days (a parcel version's valid_from and valid_to), the municipality's days: a date-time is read
as the day it falls on in ``settings.TIME_ZONE`` (2024-01-01T22:00:00Z is 2 January in Kuwait), a date as that day.
layers/ogcapi_features.py selects the features whose days meet those asked.

Python's dates run from year 1 to 9999: year 0000, which RFC 3339 allows, is refused as off the calendar.
"""

from __future__ import annotations

import datetime
import re
from zoneinfo import ZoneInfo

from django.conf import settings

from geoportal.errors import InvalidInput

# RFC 3339 instants (a date, or a date and time) and intervals of them, open ends as ".." or empty.
INSTANT = (
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}(?:[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?(?:[Zz]|[+-][0-9]{2}:[0-9]{2}))?"
)
DATETIME = re.compile(rf"{INSTANT}|(?:{INSTANT}|\.\.)?/(?:{INSTANT}|\.\.)?")
# The same instant's fields, to check that they are on the calendar and the clock (RFC 3339 §5.7).
INSTANT_FIELDS = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})"
    r"(?:[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?(?:[Zz]|([+-])([0-9]{2}):([0-9]{2})))?"
)
DATETIME_FORMS = "an RFC 3339 date or date-time, or an interval of them ('2024-01-01/..')"
HELD_FROM, HELD_UNTIL = "valid_from", "valid_to"  # a feature's first day, and the day it stopped holding


def datetime_days(value: str) -> tuple[datetime.date | None, datetime.date | None]:
    """The first and last of the municipality's days that ``datetime`` asks about (an instant's day twice; None for an
    open end). Refuse one that is not an RFC 3339 date, date-time or interval of them (Core §7.15.4), one off the
    calendar or the clock (2020-02-30, 25:61:61), or an interval that ends before it starts: by their moments where
    both ends are date-times, else by the municipality's days, the days it selects by."""
    if not DATETIME.fullmatch(value):
        raise InvalidInput(f"datetime: {DATETIME_FORMS}.", field="datetime")
    instants = []
    for end in value.split("/"):
        try:
            instants.append(None if end in ("", "..") else _instant(end))
        except ValueError:
            raise InvalidInput(
                f"datetime: {end} is not on the calendar or the clock (RFC 3339 §5.7); {DATETIME_FORMS}.",
                field="datetime",
            ) from None
    days = [None if instant is None else _local_day(*instant) for instant in instants]
    if len(instants) == 2 and None not in instants:
        (_, start_moment), (_, end_moment) = instants
        if (start_moment > end_moment) if start_moment and end_moment else (days[0] > days[1]):
            raise InvalidInput(f"datetime: the interval {value} ends before it starts.", field="datetime")
    return days[0], days[-1]


def _local_day(date: datetime.date, moment: tuple[int, int] | None) -> datetime.date:
    """The day in settings.TIME_ZONE of an RFC 3339 date (that day) or date-time (the day its moment falls on there),
    as ``_instant`` read it."""
    if moment is None:
        return date
    seconds, _ = moment
    try:
        utc = datetime.datetime.min.replace(tzinfo=datetime.UTC) + datetime.timedelta(
            seconds=seconds - datetime.date.min.toordinal() * 86_400
        )
        return utc.astimezone(ZoneInfo(settings.TIME_ZONE)).date()
    except OverflowError:  # an instant before year 1 or after 9999 in UTC or in the zone: the calendar's first or last
        return datetime.date.min if date.year == 1 else datetime.date.max


def _instant(text: str) -> tuple[datetime.date, tuple[int, int] | None]:
    """An RFC 3339 date or date-time (as INSTANT matched it): its date, and for a date-time its moment as UTC seconds
    from the calendar's start and nanoseconds (whole numbers: 9999-12-31T23:59:59-01:00 is past Python's last
    datetime in UTC); a ValueError if it is off the calendar or the clock."""
    year, month, day, hour, minute, second, fraction, sign, zone_hours, zone_minutes = INSTANT_FIELDS.fullmatch(
        text
    ).groups()
    date = datetime.date(int(year), int(month), int(day))
    if hour is None:
        return date, None
    offset_minutes = 0
    if sign is not None:
        if int(zone_hours) > 23 or int(zone_minutes) > 59:  # RFC 3339 §5.6 time-numoffset
            raise ValueError(f"offset {sign}{zone_hours}:{zone_minutes}")
        offset_minutes = (-1 if sign == "-" else 1) * (int(zone_hours) * 60 + int(zone_minutes))
    leap = second == "60"  # RFC 3339 §5.6 time-second: 60 is a leap second, after :59
    clock = datetime.time(int(hour), int(minute), 59 if leap else int(second))
    seconds = date.toordinal() * 86_400 + clock.hour * 3_600 + clock.minute * 60 + clock.second - offset_minutes * 60
    return date, (seconds, int((fraction or "").ljust(9, "0")) + (10**9 if leap else 0))


def day_properties(published: set[str]) -> tuple[str, str | None] | None:
    """Of a layer's published properties, those holding the days a feature holds: its first (``valid_from``) and, if
    it has one, the day it stopped (``valid_to``, not itself held); None for a layer whose features have no days."""
    if HELD_FROM not in published:
        return None
    return HELD_FROM, HELD_UNTIL if HELD_UNTIL in published else None


def day_start(day: datetime.date) -> str:
    """The moment the municipality's ``day`` starts, in RFC 3339 and UTC: 2024-01-15 is 2024-01-14T21:00:00Z in Kuwait
    (whose offset before 1950 was +03:11:56, which RFC 3339's hours and minutes cannot write)."""
    start = datetime.datetime.combine(day, datetime.time(), tzinfo=ZoneInfo(settings.TIME_ZONE))
    try:  # isoformat, not strftime: strftime writes year 999 as "999"
        return start.astimezone(datetime.UTC).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"
    except OverflowError:  # the calendar's first day, east of UTC
        return f"{day.isoformat()}T00:00:00Z"
