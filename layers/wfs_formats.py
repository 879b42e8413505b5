"""OUTPUTFORMAT read as written: a client asking for what the WFS does not advertise is told so.

django-gisserver tries a value twice, the second time with its spaces turned into ``+`` (so that
``application/gml xml``, an unescaped ``+`` in a URL, is read as ``application/gml+xml``). That turned
``text/xml; subtype=gml/3.1.1``, WFS 1.1's GML 3.1.1, into ``text/xml;+subtype=gml/3.1.1``, whose subtype it does not
see: it answered GML 3.2 to a client that had asked for GML 3.1.1. It also compares only the type when a version is
named, so ``application/gml+xml; version=3.1`` got GML 3.2 too. Here only the type's own spaces become ``+``, and a
GML version other than 3.2 is refused.
"""

from __future__ import annotations

import re

from gisserver.exceptions import InvalidParameterValue

# The GML version a value names, as a subtype (``text/xml; subtype=gml/3.2.1``) or a version
# (``application/gml+xml; version=3.2``).
GML_VERSION_NAMED = re.compile(r";\s*(?:subtype\s*=\s*gml/|version\s*=\s*)([^;\s]*)", re.IGNORECASE)
GML_VERSIONS_WRITTEN = ("3.2", "3.2.1")
SUBTYPE_GML_3_2 = re.compile(r"(subtype\s*=\s*gml/)3\.2(?![.\d])", re.IGNORECASE)  # the same as gml/3.2.1


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
        kind, separator, parameters = value.partition(";")
        written = kind.strip().replace(" ", "+") + separator + SUBTYPE_GML_3_2.sub(r"\g<1>3.2.1", parameters)
        for output_format in self.get_output_formats():
            if output_format.matches(written):
                return output_format
        raise InvalidParameterValue(
            f"'{value}' is not a permitted output format for this operation.", locator=locator or "outputFormat"
        )
