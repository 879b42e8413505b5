"""OGC API - Features ``datetime`` (Core §7.15.4), checked: an RFC 3339 date or date-time, or an interval of them,
each on the calendar and the clock, an interval's start not after its end. The layers hold their current features
only, so a valid ``datetime`` selects no others (layers/ogcapi_features.py).

Python's dates run from year 1 to 9999: year 0000, which RFC 3339 allows, is refused as off the calendar.
"""

from __future__ import annotations

import datetime
import re

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


def datetime_check(value: str) -> None:
    """Refuse a ``datetime`` that is not an RFC 3339 date, date-time or interval of them (Core §7.15.4), one off the
    calendar or the clock (2020-02-30, 25:61:61), or an interval that ends before it starts."""
    if not DATETIME.fullmatch(value):
        raise InvalidInput(
            f"datetime: {DATETIME_FORMS}; the layers hold their current features only, so it selects no others.",
            field="datetime",
        )
    instants = []
    for end in value.split("/"):
        try:
            instants.append(None if end in ("", "..") else _instant(end))
        except ValueError:
            raise InvalidInput(
                f"datetime: {end} is not on the calendar or the clock (RFC 3339 §5.7); {DATETIME_FORMS}.",
                field="datetime",
            ) from None
    if len(instants) == 2 and None not in instants:
        (start_date, start_moment), (end_date, end_moment) = instants
        # A date against a date-time is compared by the date-time's own date: a date has no zone of its own.
        if (start_moment > end_moment) if start_moment and end_moment else (start_date > end_date):
            raise InvalidInput(f"datetime: the interval {value} ends before it starts.", field="datetime")


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
