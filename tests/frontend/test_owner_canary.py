"""Owner data and document contents reach no role that may not see them, through any path.

A canary owner (name, civil id), a canary permit applicant and a canary document are seeded; every
public path of the portal is walked as the public, as a signed-in account without grants, and as a
ministry whose grant is documents only. None of the canaries may appear in any answer. The planner's
control run proves the canaries are there to be found. Extend PUBLIC_PATHS when a new path lands
(exports).
"""

from __future__ import annotations

import io

import pypdf
import pytest
from django.contrib.auth.models import Group, Permission, User
from django.test import Client

from layers.services.roles import roles_ensure
from tests.layers.parcel_file_scene import (
    CANARY_APPLICANT,
    CANARY_CIVIL_ID,
    CANARY_DOCUMENT_TEXT,
    CANARY_OWNER,
    X0,
    Y0,
    parcel_file_scene_build,
)
from tests.tiles.scene import tile_of
from tests.tiles.wsgi_client import wsgi_request

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("municipality")]
WFS_LAYERS = ("governorates", "areas", "blocks", "parcels", "zoning", "streets", "landmarks")  # also WMS layers
KTM_URI = "http://www.opengis.net/def/crs/EPSG/0/31901"
FEATURE_LAYERS = (*WFS_LAYERS, "parcel_versions")  # the WFS's and OGC API's: the maps' layers and the parcels' history
WFS_OUTPUTS = ("application/gml%2Bxml%3B%20version%3D3.2", "geojson", "csv")
WMS_INFO_FORMATS = ("application/json", "text/plain", "text/html")
CANARIES = (CANARY_OWNER.encode(), CANARY_CIVIL_ID.encode(), CANARY_APPLICANT.encode(), CANARY_DOCUMENT_TEXT)


def public_paths(scene) -> list[str]:
    plot, image = scene.plot.id, scene.image_id
    z, x, y = tile_of(X0 + 30, Y0 + 15, 17)
    box = f"{X0 - 20},{Y0 - 35},{X0 + 80},{Y0 + 65}"  # 100 m around the parcel's middle, 1 m a pixel
    wms_map = (
        f"/wms?SERVICE=WMS&VERSION=1.3.0&LAYERS={','.join(WFS_LAYERS)}&CRS=EPSG:31901&BBOX={box}&WIDTH=100&HEIGHT=100"
    )
    return [
        "/", "/ar/", "/healthz", "/admin/", "/admin/login/",
        "/api/areas.geojson", "/api/landmarks.geojson",
        # the search index: the canaries' own words asked for (the answer does not repeat the query)
        "/api/search?q=CANARY-OWNER-9c1e", "/api/search?q=Hessa%20Al-Canary", "/api/search?q=288888888888",
        "/api/search?q=APP-CANARY-5d2b", "/api/search?q=canary&limit=50",
        # the ministries' change feed: every event the scene's writes recorded
        "/api/changes?limit=5000", "/api/changes?layer=parcels&limit=5000", "/api/changes?after=latest",
        # the ministries' WFS: every layer in every output format, and a filter asking for the owner's name
        "/wfs?SERVICE=WFS&REQUEST=GetCapabilities", "/wfs?SERVICE=WFS&VERSION=2.0.0&REQUEST=DescribeFeatureType",
        *(f"/wfs?SERVICE=WFS&VERSION=2.0.0&REQUEST=GetFeature&TYPENAMES={layer}&OUTPUTFORMAT={output}"
          for layer in FEATURE_LAYERS for output in WFS_OUTPUTS),
        f"/wfs?SERVICE=WFS&VERSION=2.0.0&REQUEST=GetFeature&STOREDQUERY_ID=urn:ogc:def:query:OGC-WFS::GetFeatureById"
        f"&ID=parcels.{plot}",
        "/wfs?SERVICE=WFS&VERSION=2.0.0&REQUEST=GetFeature&STOREDQUERY_ID=GetFeatureByKey&LAYER=parcels&KEY=SALMIYA/12/2",
        "/wfs?SERVICE=WFS&VERSION=2.0.0&REQUEST=GetPropertyValue&TYPENAMES=parcels&VALUEREFERENCE=number",
        "/wfs?SERVICE=WFS&VERSION=2.0.0&REQUEST=GetFeature&TYPENAMES=parcels&FILTER=%3Cfes%3AFilter%20xmlns%3Afes%3D%22"
        "http%3A%2F%2Fwww.opengis.net%2Ffes%2F2.0%22%3E%3Cfes%3APropertyIsLike%20wildCard%3D%22*%22%20singleChar%3D%22."
        "%22%20escapeChar%3D%22!%22%3E%3Cfes%3AValueReference%3Eowners%2Fname%3C%2Ffes%3AValueReference%3E%3Cfes%3A"
        "Literal%3E*Canary*%3C%2Ffes%3ALiteral%3E%3C%2Ffes%3APropertyIsLike%3E%3C%2Ffes%3AFilter%3E",
        # OGC API - Features: every collection's items, the parcel by its id, and a filter naming the owner
        "/ogcapi", "/ogcapi/collections",
        *(f"/ogcapi/collections/{layer}/items?limit=5000" for layer in FEATURE_LAYERS),
        f"/ogcapi/collections/parcels/items/{plot}", "/ogcapi/collections/parcels/items?owners=Hessa%20Al-Canary",
        # … in KTM, and with a box in KTM (Part 2)
        *(f"/ogcapi/collections/{layer}/items?limit=5000&crs={KTM_URI}&bbox-crs={KTM_URI}&bbox=0,0,1e7,1e7"
          for layer in FEATURE_LAYERS),
        f"/ogcapi/collections/parcels/items/{plot}?crs={KTM_URI}",
        # the WMTS: capabilities, and the parcel's tile by GetTile in both formats
        "/wmts?SERVICE=WMTS&REQUEST=GetCapabilities", "/wmts/1.0.0/WMTSCapabilities.xml",
        *(f"/wmts?SERVICE=WMTS&REQUEST=GetTile&LAYER=parcels&STYLE=default&FORMAT={tile_format}"
          f"&TILEMATRIXSET=GoogleMapsCompatible&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}"
          for tile_format in ("image/png", "application/vnd.mapbox-vector-tile")),
        # the ministries' WMS: capabilities, a map, and what every layer answers at the parcel, in every format
        "/wms?SERVICE=WMS&REQUEST=GetCapabilities", f"{wms_map}&REQUEST=GetMap&FORMAT=image/png",
        *(f"{wms_map}&REQUEST=GetFeatureInfo&QUERY_LAYERS={layer}&I=50&J=50&FEATURE_COUNT=50&INFO_FORMAT={info}"
          for layer in WFS_LAYERS for info in WMS_INFO_FORMATS),
        f"/api/parcels/identify?x={X0 + 30}&y={Y0 + 15}&crs=EPSG:31901",
        "/api/parcels/identify?area=SALMIYA&block=12&parcel=2",
        f"/api/parcels/{plot}", f"/api/parcels/{plot}/versions/1",
        f"/parcels/{plot}/", f"/parcels/{plot}/print/", f"/parcels/{plot}/report.pdf", f"/parcels/{plot}/map.png",
        f"/parcels/{plot}/imagery/{image}.png", f"/parcels/{plot}/documents/DOC-SAL-1",
        f"/parcels/{plot}/documents/DOC-SAL-1?download=1", "/parcels/SALMIYA/12/2/",
        # errors about this parcel
        f"/parcels/{plot}/documents/NOPE", f"/api/parcels/{plot}/versions/9", f"/parcels/{plot}/imagery/999.png",
        # tiles, through Django and through the lean WSGI path below
        "/tiles/", "/tiles/parcels.mvt.json", f"/tiles/parcels/{z}/{x}/{y}.mvt", f"/tiles/parcels/{z}/{x}/{y}.png",
        f"/tiles/basemap/{z}/{x}/{y}.png", f"/tiles/parcels/{z}/{x}/{y}@2x.png",
    ]  # fmt: skip


def _body(response) -> bytes:
    content = b"".join(response.streaming_content) if response.streaming else response.content
    if response.get("Content-Type") == "application/pdf" and content.startswith(b"%PDF-1.7"):
        reader = pypdf.PdfReader(io.BytesIO(content))
        content += "\n".join(page.extract_text() for page in reader.pages).encode()
    return content


def _leaks(client: Client, paths: list[str]) -> dict[str, list[bytes]]:
    found = {}
    for path in paths:
        response = client.get(path, follow=True)
        assert response.status_code < 500, path
        body = _body(response)
        hits = [canary for canary in CANARIES if canary in body]
        if hits:
            found[path] = hits
    return found


@pytest.fixture
def scene(tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"
    built = parcel_file_scene_build(tmp_path, with_imagery=True)
    from layers.models import AerialImage

    built.image_id = AerialImage.objects.get().id
    return built


def _account(name: str, *codenames: str) -> User:
    user = User.objects.create_user(name, password="x")  # noqa: S106
    if codenames:
        group = Group.objects.create(name=f"grant of {name}")
        group.permissions.add(*Permission.objects.filter(codename__in=codenames))
        user.groups.add(group)
    return user


def test_no_canary_reaches_the_public_through_any_path(scene):
    assert _leaks(Client(), public_paths(scene)) == {}


def test_the_walk_s_ogcapi_paths_in_ktm_are_answered_in_ktm(scene):
    """A refusal (400) holds no canary either: the walk's KTM paths must be answers for their silence to count."""
    in_ktm = [path for path in public_paths(scene) if f"crs={KTM_URI}" in path]

    assert len(in_ktm) == len(FEATURE_LAYERS) + 1
    for path in in_ktm:
        response = Client().get(path)
        assert response.status_code == 200, path
        assert response["Content-Crs"] == f"<{KTM_URI}>", path


def test_no_canary_reaches_the_lean_tile_path(scene):
    z, x, y = tile_of(X0 + 30, Y0 + 15, 17)
    for path in (
        f"/tiles/parcels/{z}/{x}/{y}.mvt",
        f"/tiles/parcels/{z}/{x}/{y}.png",
        f"/tiles/basemap/{z}/{x}/{y}.png",
    ):
        body = wsgi_request(path).content
        assert [canary for canary in CANARIES if canary in body] == [], path


def test_no_canary_reaches_the_lean_parcel_file_path(scene):
    answer = wsgi_request(f"/api/parcels/{scene.plot.id}", remote_addr="127.0.0.1")  # no cookie: frontend/wsgi.py

    assert answer.status_code == 200
    assert answer.json()["owners"] == "restricted"
    assert [canary for canary in CANARIES if canary in answer.content] == []


def test_no_canary_reaches_a_signed_in_account_without_grants(scene):
    client = Client()
    client.force_login(_account("citizen"))

    assert _leaks(client, public_paths(scene)) == {}


def test_a_ministry_with_a_documents_grant_sees_documents_but_no_owner(scene):
    client = Client()
    client.force_login(_account("ministry-of-commerce", "view_document_contents"))

    leaks = _leaks(client, public_paths(scene))

    # Its grant opens the building file's documents, and nothing else carries a canary.
    assert leaks == {
        f"/parcels/{scene.plot.id}/documents/DOC-SAL-1": [CANARY_DOCUMENT_TEXT],
        f"/parcels/{scene.plot.id}/documents/DOC-SAL-1?download=1": [CANARY_DOCUMENT_TEXT],
    }


def test_control_a_planner_finds_every_canary(scene):
    """Without this, the tests above could pass because the canaries were never reachable at all."""
    client = Client()
    planner = User.objects.create_user("planner", password="x")  # noqa: S106
    planner.groups.add(roles_ensure())
    client.force_login(planner)

    leaks = _leaks(client, public_paths(scene))

    plot = scene.plot.id
    found = {canary for hits in leaks.values() for canary in hits}
    assert found == set(CANARIES)
    assert set(leaks[f"/api/parcels/{plot}"]) == {
        CANARY_OWNER.encode(),
        CANARY_CIVIL_ID.encode(),
        CANARY_APPLICANT.encode(),
    }
    assert CANARY_OWNER.encode() in leaks[f"/parcels/{plot}/report.pdf"]
    assert not any(path.startswith("/tiles/") for path in leaks)  # tiles carry no owner data for anyone


def test_control_the_wms_walk_reaches_the_canary_parcel(scene):
    """Without this, the WMS paths above could pass because their point missed the parcel."""
    paths = [path for path in public_paths(scene) if "QUERY_LAYERS=parcels&" in path and "application/json" in path]

    answer = Client().get(paths[0])

    assert [feature["id"] for feature in answer.json()["features"]] == [f"parcels.{scene.plot.id}"]


def _admin_paths(scene) -> list[str]:
    """The admin pages that show or filter by owners, applicants and document files: change pages, searches for
    the canaries, and list filters whose count would answer for a value."""
    from layers.models import BuildingFileDocument, BuildingPermit, ParcelOwner

    permits = [
        f"/admin/layers/buildingpermit/{pk}/change/" for pk in BuildingPermit.objects.values_list("pk", flat=True)
    ]
    owner = ParcelOwner.objects.get().pk
    document, digest = BuildingFileDocument.objects.values_list("pk", "sha256").get()
    return [
        *permits,
        f"/admin/layers/buildingfiledocument/{document}/change/",
        f"/admin/layers/parcel/{scene.plot.id}/change/",
        "/admin/layers/buildingpermit/?q=APP-CANARY-5d2b",
        "/admin/layers/buildingpermit/?applicant_ref=APP-CANARY-5d2b",
        "/admin/layers/buildingpermit/?applicant_ref__startswith=APP-CANARY",
        "/admin/layers/buildingpermit/?parcel__owners__isnull=False",
        f"/admin/layers/parcel/?owners={owner}",
        "/admin/layers/parcel/?owners__isnull=False",
        "/admin/layers/parcel/?permits__applicant_ref=APP-CANARY-5d2b",
        "/admin/layers/parcel/?documents__file__contains=DOC",
        "/admin/layers/buildingfiledocument/?file__contains=DOC",
        f"/admin/layers/buildingfiledocument/?sha256={digest}",  # a checksum confirms a guess of the contents
    ]


def _clerk(*codenames: str) -> Client:
    user = _account("clerk", *codenames)
    user.is_staff = True
    user.save()
    client = Client()
    client.force_login(user)
    return client


# Lookups across two relations, which Django's admin refuses whoever asks; the others it allows to those granted.
REFUSED_BY_DJANGO_FOR_EVERYONE = (
    "/admin/layers/buildingpermit/?parcel__owners__isnull=False",
    "/admin/layers/parcel/?permits__applicant_ref=APP-CANARY-5d2b",
    "/admin/layers/parcel/?documents__file__contains=DOC",
)
CLERK_GRANTS = (
    "view_parcel",
    "view_buildingpermit",
    "change_buildingpermit",
    "view_buildingfiledocument",
    "change_buildingfiledocument",
)


def test_staff_without_the_owner_grant_see_no_applicant_and_cannot_filter_by_owners(scene):
    client = _clerk(*CLERK_GRANTS)
    answers = {path: client.get(path) for path in _admin_paths(scene)}

    for path, answer in answers.items():
        assert answer.status_code in (200, 400), path
        if "?q=" not in path:  # a search page repeats its query in its search box
            assert not [canary for canary in CANARIES if canary in answer.content], path
    refused = {path for path, answer in answers.items() if answer.status_code == 400}
    assert refused == {path for path in _admin_paths(scene) if "/?" in path and "?q=" not in path}
    assert b"BP-2021-000001" not in answers["/admin/layers/buildingpermit/?q=APP-CANARY-5d2b"].content
    document_page = next(answer for path, answer in answers.items() if "buildingfiledocument/" in path)
    assert b'name="file"' not in document_page.content and b"DOC-SAL-1.pdf" not in document_page.content  # noqa: PT018
    assert _document_digest() not in document_page.content


def _document_digest() -> bytes:
    from layers.models import BuildingFileDocument

    return BuildingFileDocument.objects.get().sha256.encode()


def test_control_staff_with_the_grants_find_the_canaries_in_the_admin(scene):
    """Without this, the test above could pass because the admin never showed these at all."""
    client = _clerk(*CLERK_GRANTS, "view_owner_data", "view_document_contents")
    answers = {path: client.get(path) for path in _admin_paths(scene)}

    refused = {path: answer.status_code for path, answer in answers.items() if answer.status_code != 200}
    assert refused == dict.fromkeys(REFUSED_BY_DJANGO_FOR_EVERYONE, 400)
    assert b"BP-2021-000001" in answers["/admin/layers/buildingpermit/?q=APP-CANARY-5d2b"].content
    assert b"BP-2021-000001" in answers["/admin/layers/buildingpermit/?applicant_ref=APP-CANARY-5d2b"].content
    permit_pages = [answer for path, answer in answers.items() if path.endswith("/change/") and "permit/" in path]
    assert all(CANARY_APPLICANT.encode() in answer.content for answer in permit_pages)
    document_page = next(answer for path, answer in answers.items() if "buildingfiledocument/" in path)
    assert b"DOC-SAL-1.pdf" in document_page.content
    assert _document_digest() in document_page.content


def test_no_browser_or_proxy_keeps_a_signed_in_file_or_a_document(scene):
    plot = scene.plot.id
    planner = User.objects.create_user("planner", password="x")  # noqa: S106
    planner.groups.add(roles_ensure())
    client = Client()
    client.force_login(planner)
    paths = [f"/api/parcels/{plot}", f"/parcels/{plot}/", f"/parcels/{plot}/print/", f"/parcels/{plot}/report.pdf"]

    for path in [*paths, f"/parcels/{plot}/documents/DOC-SAL-1", f"/parcels/{plot}/documents/DOC-SAL-1?download=1"]:
        answer = client.get(path)
        assert answer.status_code == 200, path
        assert set(answer["Cache-Control"].replace(" ", "").split(",")) == {"private", "no-store"}, path
    for path in paths:  # the public subset is the same for everyone
        assert "private" not in Client().get(path).get("Cache-Control", ""), path
