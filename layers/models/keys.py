"""What the departments' keys may hold. They are parts of addresses (the share link /parcels/SALMIYA/10/5/, a feed's
SALMIYA/10/5 or ZAHRA-SIXTH_RING, a WFS link's feature id) and are written into pages: a '/', a '.', a space or markup
in one would name another address or be run as a script.

A code (an area's, a governorate's, a zone's, a street's, a landmark's) is ASCII capitals, digits, '-' and '_', as every
delivery and the demo write them (docs/deliveries.md): one spelling per key, so "salmiya" or "SALMIYA-١٠" cannot be a
second key for the same thing. A block or parcel number is letters (Latin or Arabic) and digits: the survey numbers
plots 12أ. Each pattern reads the same in Python and in PostgreSQL (the importers' checks): \\A and \\Z, because
Python's $ also matches before a final newline.
"""

from django.core.validators import RegexValidator

CODE_PATTERN = r"\A[A-Z0-9_-]+\Z"
CODE_ALLOWS = "ASCII capitals, digits, '-' and '_'"
AREA_CODE_PATTERN, AREA_CODE_ALLOWS = CODE_PATTERN, CODE_ALLOWS
KEY_NUMBER_PATTERN = r"\A[0-9A-Za-zء-ي٠-٩_-]+\Z"
KEY_NUMBER_ALLOWS = "letters, digits, '-' and '_'"


def code_validator(what: str) -> RegexValidator:
    """Refuse a code that holds anything but CODE_ALLOWS; ``what`` names it in the message ("A street code")."""
    return RegexValidator(CODE_PATTERN, f"{what} may hold only {CODE_ALLOWS}.")


area_code_validator = code_validator("An area code")
governorate_code_validator = code_validator("A governorate code")
zone_code_validator = code_validator("A zone code")
street_code_validator = code_validator("A street code")
landmark_code_validator = code_validator("A landmark code")
number_validator = RegexValidator(KEY_NUMBER_PATTERN, f"A block or parcel number may hold only {KEY_NUMBER_ALLOWS}.")
