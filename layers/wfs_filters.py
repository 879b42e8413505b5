"""FES 2.0 filters of the WFS: ``matchCase="false"``, which django-gisserver reads and then ignores.

GDAL and QGIS turn a case-insensitive condition (``-where "land_use ILIKE 'COMM%'"``, a filter built in QGIS's
dialog) into ``<fes:PropertyIsLike matchCase="false">`` or ``<fes:PropertyIsEqualTo matchCase="false">``
(FES 2.0 §7.7.3.2 and §7.7.4.1: false compares without regard to case). django-gisserver 2 parses the attribute of
the binary comparisons as a string, never of PropertyIsLike, and compares with case either way: a ministry's
``ILIKE 'COMM%'`` found nothing. Here the three comparisons it can ask that way take their case-insensitive
lookups. This module is imported by layers/wfs.py, which patches django-gisserver the same way elsewhere.

Dates: GDAL (and QGIS through it) writes a date in a filter as a date-time at midnight without a zone
(``-where "valid_from <= '2024-02-01'"`` is ``<fes:Literal>2024-02-01T00:00:00</fes:Literal>``), which
django-gisserver refused for a date property ("Date must be in YYYY-MM-DD format"): every filter of a ministry's
GIS on a parcel's days failed. Such a literal is read as its date, which is what it compares with: a date is its
midnight. Other times of day, and any time with a zone (whose day in the municipality is another question), are
refused as before.
"""

from __future__ import annotations

import datetime
import re

from django.db import models
from django.db.models import lookups
from gisserver import types as gisserver_types
from gisserver.parsers import values
from gisserver.parsers.fes20 import operators
from gisserver.parsers.fes20.lookups import FesLike
from gisserver.types import XsdTypes

INSENSITIVE_LOOKUPS = {"fes_like": "fes_ilike", "exact": "iexact", "fes_notequal": "fes_inotequal"}
MIDNIGHT = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})T00:00:00(?:\.0+)?")  # no zone: how GDAL writes a date


@models.CharField.register_lookup
@models.TextField.register_lookup
@models.ForeignObject.register_lookup
class FesILike(FesLike):
    """``fieldname__fes_ilike=...``: a LIKE pattern (wildcards already in the value) without regard to case."""

    lookup_name = "fes_ilike"

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} ILIKE {rhs}", (*lhs_params, *rhs_params)


@models.Field.register_lookup
@models.ForeignObject.register_lookup
class FesINotEqual(lookups.Lookup):
    """``fieldname__fes_inotequal=...``: not equal, without regard to case."""

    lookup_name = "fes_inotequal"

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"UPPER({lhs}::text) != UPPER({rhs}::text)", (*lhs_params, *rhs_params)


def match_case(operator) -> bool:
    """Whether a comparison heeds case: FES's default; ``matchCase="false"`` in any case of letters does not."""
    value = getattr(operator, "matchCase", True)
    return not (isinstance(value, str) and value.strip().lower() == "false")


def _in_case_asked(build_compare):
    def build_compare_in_case_asked(self, compiler, lhs, lookup, rhs):
        if not match_case(self):
            lookup = INSENSITIVE_LOOKUPS.get(lookup, lookup)
        return build_compare(self, compiler, lhs, lookup, rhs)

    return build_compare_in_case_asked


def _reading_match_case(from_xml):
    def from_xml_reading_match_case(cls, element):
        operator = from_xml.__func__(cls, element)
        operator.matchCase = element.get("matchCase", True)
        return operator

    return classmethod(from_xml_reading_match_case)


# Every comparison builds its query through build_compare; PropertyIsLike's parser drops matchCase, so it is kept.
operators.ComparisonOperator.build_compare = _in_case_asked(operators.ComparisonOperator.build_compare)
operators.LikeOperator.from_xml = _reading_match_case(operators.LikeOperator.from_xml)


def date_literal_parse(raw_value: str) -> datetime.date:
    """A date property's literal: a date, or a date-time at midnight without a zone, read as its date."""
    midnight = MIDNIGHT.fullmatch(raw_value) if isinstance(raw_value, str) else None
    return values.parse_iso_date(midnight.group(1) if midnight else raw_value)


gisserver_types.TYPES_TO_PYTHON[XsdTypes.date] = date_literal_parse
XsdTypes.date.__dict__.pop("_to_python_func", None)  # the parser it kept, were it asked before this module loaded
