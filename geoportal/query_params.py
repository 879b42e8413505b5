"""Query parameters that several APIs read the same way."""

from __future__ import annotations

from collections.abc import Mapping

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


def single_value(query: Mapping, name: str) -> str | None:
    """The one value of ``name`` in a request's query (a QueryDict), or None. Given twice it is refused: Django
    keeps the last, so ``?bbox=a&bbox=b`` read b and said nothing of a."""
    values = query.getlist(name)
    if len(values) > 1:
        raise InvalidInput(f"{name}: given {len(values)} times; give it once.", field=name)
    return values[0] if values else None


def listed_values(query: Mapping, name: str) -> str | None:
    """Every value of ``name`` as one comma-separated list (``?layer=a&layer=b`` is ``layer=a,b``), or None."""
    return ",".join(query.getlist(name)) or None
