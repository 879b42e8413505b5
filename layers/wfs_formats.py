"""OUTPUTFORMAT read as written: a client asking for what the WFS does not advertise is told so.

django-gisserver tries a value twice, the second time with its spaces turned into ``+`` (so that
``application/gml xml``, an unescaped ``+`` in a URL, is read as ``application/gml+xml``). That turned
``text/xml; subtype=gml/3.1.1``, WFS 1.1's GML 3.1.1, into ``text/xml;+subtype=gml/3.1.1``, whose subtype it does not
see: it answered GML 3.2 to a client that had asked for GML 3.1.1. It also compares only the type when a version is
named, so ``application/gml+xml; version=3.1`` got GML 3.2 too. Here only the type's own spaces become ``+``, and a
GML version other than 3.2 is refused. GML 3.2's subtype is taken as either operation writes it (``gml/3.2.1`` for
GetFeature, ``gml/3.2`` for GetPropertyValue), quoted or not, in any case.
"""

from __future__ import annotations

import re

from gisserver.exceptions import InvalidParameterValue

# The GML version a value names, as a subtype (``text/xml; subtype=gml/3.2.1``) or a version
# (``application/gml+xml; version=3.2``).
GML_VERSION_NAMED = re.compile(r';\s*(?:subtype\s*=\s*"?gml/|version\s*=\s*"?)([^;\s"]*)', re.IGNORECASE)
GML_VERSIONS_WRITTEN = ("3.2", "3.2.1")
# A subtype, quoted or not (WFS 1.1 quotes it: subtype="gml/3.1.1").
SUBTYPE = re.compile(r'subtype\s*=\s*"?([^";]*)"?', re.IGNORECASE)
SUBTYPE_GML_3_2 = re.compile(r"(subtype=gml/)3\.2(?![.\d])")
SUBTYPE_GML_3_2_1 = re.compile(r"(subtype=gml/)3\.2\.1(?![.\d])")


class ExactOutputFormat:
    """For a WFS operation of django-gisserver's: the output format its OUTPUTFORMAT names, or a 400."""

    def resolve_output_format(self, value, locator="outputFormat"):
        named = GML_VERSION_NAMED.search(value)
        if named and named.group(1) not in GML_VERSIONS_WRITTEN:
            raise InvalidParameterValue(
                f"'{value}' asks for GML {named.group(1)}; this service writes GML 3.2 only"
                " (OUTPUTFORMAT=application/gml+xml; version=3.2).",
                locator=locator or "outputFormat",
            )
        for written in _spellings(value):
            for output_format in self.get_output_formats():
                if output_format.matches(written):
                    return output_format
        raise InvalidParameterValue(
            f"'{value}' is not a permitted output format for this operation.", locator=locator or "outputFormat"
        )


def _spellings(value: str) -> list[str]:
    """``value`` as django-gisserver's formats may spell it: the type's own spaces a ``+``, a quoted or capitalised
    subtype as the formats write it, and GML 3.2's subtype both as ``gml/3.2`` (GetPropertyValue's) and ``gml/3.2.1``
    (GetFeature's)."""
    kind, separator, parameters = value.partition(";")
    parameters = SUBTYPE.sub(lambda match: f"subtype={match.group(1).lower()}", parameters)
    written = kind.strip().replace(" ", "+") + separator + parameters
    return [written, SUBTYPE_GML_3_2.sub(r"\g<1>3.2.1", written), SUBTYPE_GML_3_2_1.sub(r"\g<1>3.2", written)]
