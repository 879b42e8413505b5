"""A fault of the server's own in the WMS or the WMTS (tiles/wms.py server_fault) is an OWS exception report, 500,
that names nothing of it, and its traceback is logged: it was Django's HTML "Server Error (500)", which a GIS client
cannot read as a refusal (a stylesheet naming a source the running code lacked made every zoning map so)."""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET

import pytest

from tiles import wms, wmts

SECRET = "connection to 10.0.0.7 refused, password=hunter2"  # what a fault may say: never sent
OWS = "{http://www.opengis.net/ows/1.1}"
OGC = "{http://www.opengis.net/ogc}"


def _broken(*args, **kwargs):
    raise RuntimeError(SECRET)


@pytest.mark.parametrize(
    ("version", "content_type", "exception"),
    [("1.3.0", "text/xml", f"{OGC}ServiceException"), ("1.1.1", "application/vnd.ogc.se_xml", "ServiceException")],
)
@pytest.mark.parametrize("exceptions", ["XML", "INIMAGE"])
def test_a_wms_map_that_fails_is_an_exception_report_naming_nothing_of_the_fault(
    client, db, monkeypatch, caplog, version, content_type, exception, exceptions
):
    monkeypatch.setattr(wms, "_map_drawn", _broken)
    crs = {"CRS": "EPSG:3857"} if version == "1.3.0" else {"SRS": "EPSG:3857"}
    with caplog.at_level(logging.ERROR, logger="tiles.wms"):
        response = client.get("/wms", {
            "SERVICE": "WMS", "VERSION": version, "REQUEST": "GetMap", "LAYERS": "parcels", "STYLES": "",
            "BBOX": "5350000,3415000,5351000,3416000", "WIDTH": "256", "HEIGHT": "256", "FORMAT": "image/png",
            "EXCEPTIONS": exceptions, **crs,
        })  # fmt: skip

    assert response.status_code == 500
    assert response["Content-Type"].startswith(content_type)
    assert SECRET not in response.content.decode()
    report = ET.fromstring(response.content)  # noqa: S314 - our own answer
    assert report.find(exception).get("code") == "NoApplicableCode"
    assert SECRET in caplog.text  # the traceback is logged for the operator, with what was asked
    assert "request failed: SERVICE=WMS" in caplog.text and "LAYERS=parcels" in caplog.text  # noqa: PT018


def test_a_wmts_request_that_fails_is_an_ows_exception_report_naming_nothing_of_the_fault(
    client, db, monkeypatch, caplog
):
    monkeypatch.setattr(wmts, "capabilities_answer", _broken)
    with caplog.at_level(logging.ERROR, logger="tiles.wms"):
        response = client.get("/wmts", {"SERVICE": "WMTS", "REQUEST": "GetCapabilities"})

    assert response.status_code == 500
    assert SECRET not in response.content.decode()
    report = ET.fromstring(response.content)  # noqa: S314 - our own answer
    assert report.find(f"{OWS}Exception").get("exceptionCode") == "NoApplicableCode"
    assert SECRET in caplog.text
