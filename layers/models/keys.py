"""What the survey's keys may hold. They are parts of addresses (the share link /parcels/SALMIYA/10/5/, a feed's
SALMIYA/10/5) and are written into pages: a '/', a '.', a space or markup in one would name another address or be
run as a script. An area code is ASCII capitals (docs/deliveries.md); a block or parcel number is letters (Latin or
Arabic) and digits. Each pattern reads the same in Python and in PostgreSQL (the importers' checks)."""

from django.core.validators import RegexValidator

AREA_CODE_PATTERN = "^[A-Z0-9_-]+$"
AREA_CODE_ALLOWS = "ASCII capitals, digits, '-' and '_'"
KEY_NUMBER_PATTERN = "^[0-9A-Za-zء-ي٠-٩_-]+$"
KEY_NUMBER_ALLOWS = "letters, digits, '-' and '_'"

area_code_validator = RegexValidator(AREA_CODE_PATTERN, f"An area code may hold only {AREA_CODE_ALLOWS}.")
number_validator = RegexValidator(KEY_NUMBER_PATTERN, f"A block or parcel number may hold only {KEY_NUMBER_ALLOWS}.")
