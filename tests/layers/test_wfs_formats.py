"""OUTPUTFORMAT (layers/wfs_formats.py): every format the capabilities advertise is written, and a format they do not
advertise, GML 3.1.1 (WFS 1.1's) above all, is refused with a 400 naming it, not answered in GML 3.2."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from tests.layers.test_wfs import OWS, _get, parcels

__all__ = ["parcels"]  # the fixture of test_wfs.py, used here

pytestmark = pytest.mark.django_db(transaction=True)
GML_3_2 = b'xmlns:gml="http://www.opengis.net/gml/3.2"'


def _advertised(client, operation: str) -> list[str]:
    _, body = _get(client, REQUEST="GetCapabilities")
    found = ET.fromstring(body).find(f".//{OWS}Operation[@name='{operation}']/{OWS}Parameter[@name='outputFormat']")  # noqa: S314 - our own answer
    return [] if found is None else [value.text for value in found.iter(f"{OWS}Value")]  # GetPropertyValue: none


@pytest.mark.parametrize(
    ("operation", "extra", "spellings"),
    [
        ("GetFeature", {}, [
            "application/gml xml; version=3.2",  # the + of a URL left unescaped
            "text/xml; subtype=gml/3.2",
            "text/xml;subtype=gml/3.2.1",
            'text/xml; subtype="gml/3.2.1"',  # quoted, as WFS 1.1 writes it
            "text/xml; subtype=GML/3.2.1",
            "application/json",
            "csv",
        ]),
        ("GetPropertyValue", {"VALUEREFERENCE": "number"}, [
            "text/xml; subtype=gml/3.2",
            "text/xml; subtype=gml/3.2.1",  # GetFeature's spelling: a first version refused both
            "text/xml; subtype=gml/3.2.1; charset=utf-8",
        ]),
    ],
)  # fmt: skip
def test_every_advertised_format_and_its_usual_spellings_are_written(client, parcels, operation, extra, spellings):
    advertised = _advertised(client, operation)

    assert operation != "GetFeature" or "application/gml+xml; version=3.2" in advertised
    for output_format in [*advertised, *spellings]:
        status, body = _get(client, REQUEST=operation, TYPENAMES="parcels", COUNT="1", OUTPUTFORMAT=output_format,
                            **extra)  # fmt: skip
        assert status == 200, (output_format, body[:300])


@pytest.mark.parametrize(
    ("operation", "extra"),
    [("GetFeature", {}), ("GetPropertyValue", {"VALUEREFERENCE": "number"})],
)
@pytest.mark.parametrize(
    "output_format",
    [
        "text/xml; subtype=gml/3.1.1",  # WFS 1.1's default: was answered in GML 3.2
        "application/gml+xml; version=3.1",  # was answered in GML 3.2
        "text/xml; subtype=gml/2.1.2",
        "text/xml; subtype=bogus",  # was answered in GML 3.2
        'text/xml; subtype="gml/3.1.1"',
        "application/json; subtype=bogus",
    ],
)
def test_a_format_not_advertised_is_refused_naming_it(client, parcels, operation, extra, output_format):
    status, body = _get(client, REQUEST=operation, TYPENAMES="parcels", COUNT="1", OUTPUTFORMAT=output_format, **extra)

    assert status == 400
    assert GML_3_2 not in body
    exception = ET.fromstring(body).find(f"{OWS}Exception")  # noqa: S314 - our own answer
    assert exception.get("exceptionCode") == "InvalidParameterValue"
    assert exception.get("locator") == "outputFormat"
    assert output_format in exception.findtext(f"{OWS}ExceptionText")
