"""``/ogcapi/api`` (layers/ogcapi_openapi.py): the OpenAPI 3.0 definition of OGC API - Features, read by OWSLib, valid
by openapi-spec-validator, and true to what the API answers (its parameters, limits, statuses and bodies)."""

from __future__ import annotations

import pytest
from django.conf import settings
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate as openapi_validate
from owslib.ogcapi.features import Features

from layers import ogcapi_features
from tests.frontend.ogcapi_expected import LAYERS, OFFERED_CRS, PARCEL_PROPERTIES

pytestmark = pytest.mark.django_db(transaction=True)
OAS30 = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30"


def _parameters(document: dict, path: str) -> dict[str, dict]:
    """The GET parameters of ``path``, their references resolved, by name."""
    found = {}
    for parameter in document["paths"][path]["get"]["parameters"]:
        if "$ref" in parameter:
            parameter = document["components"]["parameters"][parameter["$ref"].rpartition("/")[2]]
        found[parameter["name"]] = parameter
    return found


def _response_schema_check(document: dict, path: str, status: int, answer) -> None:
    """Check ``answer`` (a Django test response) against what the definition says ``path`` answers with ``status``."""
    response = document["paths"][path]["get"]["responses"][str(status)]
    response = document["components"]["responses"][response["$ref"].rpartition("/")[2]]
    content = response["content"][answer["Content-Type"]]  # a KeyError if the type is not the one documented
    # The schema's references point into the document: validate against it as the root.
    OAS30Validator({**content["schema"], "components": document["components"]}).validate(answer.json())


def test_owslib_finds_the_definition_from_the_landing_page_and_it_is_valid_openapi_3_0(live_server):
    api = Features(f"{live_server.url}/ogcapi/")

    document = api.api()  # OWSLib follows the landing page's service-desc link of the OpenAPI JSON type

    openapi_validate(document)  # raises on any departure from the OpenAPI 3.0 schema
    assert document["openapi"].startswith("3.0.")
    assert document["servers"] == [{"url": f"{live_server.url}/ogcapi"}]
    assert OAS30 in api.conformance()["conformsTo"]
    assert {link["rel"]: link["href"] for link in api.links if link["rel"].startswith("service-")} == {
        "service-desc": f"{live_server.url}/ogcapi/api"
    }  # and no service-doc: there is no HTML page of the API


def test_the_definition_is_served_as_openapi_json(client):
    answer = client.get("/ogcapi/api")

    assert answer.status_code == 200
    assert answer["Content-Type"] == "application/vnd.oai.openapi+json;version=3.0"
    assert answer["Access-Control-Allow-Origin"] == "*"
    assert answer.json()["paths"]["/collections/parcels/items"]["get"]["operationId"] == "getParcelsFeatures"


def test_each_collection_has_its_paths_with_the_parameters_its_items_take(client):
    document = client.get("/ogcapi/api").json()

    collection_paths = {path for path in document["paths"] if path.startswith("/collections/")}
    assert collection_paths == {
        path for layer in LAYERS for path in (f"/collections/{layer}", f"/collections/{layer}/items",
                                              f"/collections/{layer}/items/{{featureId}}")
    }  # fmt: skip
    for layer in LAYERS:
        published = ogcapi_features.published_properties(ogcapi_features.collection_get(layer))
        assert set(_parameters(document, f"/collections/{layer}/items")) == ogcapi_features.ITEMS_PARAMETERS | published
    parcels = _parameters(document, "/collections/parcels/items")
    assert set(parcels) - ogcapi_features.ITEMS_PARAMETERS == PARCEL_PROPERTIES
    assert parcels["version"]["schema"] == {"type": "integer"}
    assert parcels["valid_from"]["schema"] == {"type": "string", "format": "date"}
    assert parcels["surveyed_area_m2"]["schema"] == {"type": "number"}
    assert parcels["limit"]["schema"] == {
        "type": "integer", "minimum": 1, "maximum": settings.GISSERVER_DEFAULT_MAX_PAGE_SIZE, "default": 100
    }  # fmt: skip
    assert parcels["offset"]["schema"]["maximum"] == ogcapi_features.OFFSET_MAX
    assert parcels["f"]["schema"]["enum"] == ["json", "geojson"]
    assert parcels["crs"]["schema"]["enum"] == parcels["bbox-crs"]["schema"]["enum"] == OFFERED_CRS
    assert parcels["crs"]["schema"]["default"] == "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
    item = _parameters(document, "/collections/parcels/items/{featureId}")
    assert set(item) == {"featureId", "f", "crs"}


def test_what_the_api_answers_is_what_the_definition_says(client, parcels):
    """/req/oas30/completeness: each status an operation answers with is in the definition, with its body."""
    document = client.get("/ogcapi/api").json()
    items, item = "/collections/parcels/items", "/collections/parcels/items/{featureId}"
    every_parameter = {"limit": "2", "offset": "1", "bbox": "48,29,48.1,29.5", "f": "json",
                       "datetime": "2024-01-01/..", "version": "1", "valid_from": "2024-01-15"}  # fmt: skip
    page = client.get("/ogcapi" + items, every_parameter)
    refused = client.get("/ogcapi" + items, {"bbox-crs": "http://www.opengis.net/def/crs/EPSG/0/4326"})
    feature = client.get(f"/ogcapi/collections/parcels/items/{parcels[0].pk}")
    retired = client.get(f"/ogcapi/collections/parcels/items/{parcels[5].pk}")

    for path, answer, status in [
        (items, page, 200), (items, refused, 400), (item, feature, 200), (item, retired, 404),
    ]:  # fmt: skip
        assert answer.status_code == status, answer.content
        _response_schema_check(document, path, status, answer)
    assert [feature["properties"]["number"] for feature in page.json()["features"]] == ["2", "3"]
    assert refused.json()["field"] == "bbox-crs"
