"""The FES 2.0 filter an OGC API items page asks the WFS for (layers/ogcapi_features.py): properties equal to values,
within boxes, held on days. Written with ElementTree, so a value is only ever a literal."""

from __future__ import annotations

import datetime
from xml.etree.ElementTree import Element, SubElement, tostring

FES = "http://www.opengis.net/fes/2.0"
WFS_CRS84 = "urn:ogc:def:crs:OGC::CRS84"


def filter_text(conditions: list[Element]) -> str:
    """A FES 2.0 filter of all the conditions, written with ElementTree, so a value is only ever a literal."""
    root = Element("fes:Filter", {"xmlns:fes": FES, "xmlns:gml": "http://www.opengis.net/gml/3.2"})
    (SubElement(root, "fes:And") if len(conditions) > 1 else root).extend(conditions)
    return tostring(root, encoding="unicode")


def within_boxes(boxes: list[tuple[float, float, float, float]], srs_name: str = WFS_CRS84) -> Element:
    """Within one of the boxes (in ``srs_name``, easting or longitude first)."""
    either = Element("fes:Or")
    for west, south, east, north in boxes:
        envelope = SubElement(SubElement(either, "fes:BBOX"), "gml:Envelope", {"srsName": srs_name})
        SubElement(envelope, "gml:lowerCorner").text = f"{west} {south}"
        SubElement(envelope, "gml:upperCorner").text = f"{east} {north}"
    return either if len(boxes) > 1 else either[0]


def held_on_days(
    held_from: str, held_until: str | None, first: datetime.date | None, last: datetime.date | None
) -> list[Element]:
    """Held on a day from ``first`` to ``last`` (either open): begun by the last (``held_from`` ≤ last) and, where
    features stop holding, not stopped by the first (``held_until`` empty or after it)."""
    conditions = []
    if last is not None:
        conditions.append(comparison("PropertyIsLessThanOrEqualTo", held_from, last.isoformat()))
    if first is not None and held_until is not None:
        either = Element("fes:Or")
        SubElement(SubElement(either, "fes:PropertyIsNull"), "fes:ValueReference").text = held_until
        either.append(comparison("PropertyIsGreaterThan", held_until, first.isoformat()))
        conditions.append(either)
    return conditions


def comparison(operator: str, name: str, literal: str) -> Element:
    condition = Element(f"fes:{operator}")
    SubElement(condition, "fes:ValueReference").text = name
    SubElement(condition, "fes:Literal").text = literal
    return condition
