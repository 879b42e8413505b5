"""Query parameters that several APIs read the same way."""

from __future__ import annotations

from geoportal.errors import InvalidInput


def whole_number_parse(value: str, *, at_most_digits: int = 20) -> int | None:
    """Return ASCII digits as an int, or None: not "٣" (int() reads Arabic-Indic digits), and not a string
    so long that int() itself refuses it (over 4,300 digits) with a ValueError, an HTTP 500."""
    if value.isascii() and value.isdigit() and len(value) <= at_most_digits:
        return int(value)
    return None


def limit_parse(value: str | None, *, default: int, maximum: int) -> int:
    """Read ``limit``: a whole number from 1 to ``maximum``, or ``default`` when absent."""
    if value is None:
        return default
    number = whole_number_parse(value, at_most_digits=len(str(maximum)))
    if number is None or not 1 <= number <= maximum:
        raise InvalidInput(f"limit: a whole number from 1 to {maximum}.", field="limit")
    return number
