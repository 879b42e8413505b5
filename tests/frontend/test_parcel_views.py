"""frontend/parcel_views.py: identify, the file as JSON, HTML, print and PDF, documents, audit, limits."""

from __future__ import annotations

import csv
import io
import re
import uuid

import pypdf
import pytest
from django.contrib.auth.models import Group, User
from django.utils import translation
from PIL import Image

from fixtures.demo.catalogue.planning_rules import ZONE_RULES
from frontend.labels import PERMITTED_USE_LABELS
from frontend.templatetags.parcel_file import CHOICES
from layers.models import ParcelFileView, ZoningZone
from layers.services.features import layer_feature_save
from layers.services.roles import roles_ensure
from tests.layers.parcel_file_scene import CANARY_DOCUMENT_TEXT, CANARY_OWNER, X0, Y0, parcel_file_scene_build

pytestmark = pytest.mark.usefixtures("municipality")


@pytest.fixture
def scene(tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"
    return parcel_file_scene_build(tmp_path, with_imagery=True)


@pytest.fixture
def planner(client):
    user = User.objects.create_user("planner1", password="x")  # noqa: S106
    user.groups.add(roles_ensure())
    client.force_login(user)
    return user


def test_identify_by_lon_lat_then_the_file_by_its_link(client, scene):
    from pyproj import Transformer

    lon, lat = Transformer.from_crs(31901, 4326, always_xy=True).transform(X0 + 30, Y0 + 15)

    found = client.get("/api/parcels/identify", {"lon": lon, "lat": lat}).json()
    document = client.get(found["links"]["self"]).json()

    assert (found["how"], found["parcel_id"]) == ("inside", scene.plot.id)
    assert document["identity"]["parcel"] == "2"
    assert document["links"]["html"] == f"/parcels/{scene.plot.id}/"
    assert document["survey"]["history"][0]["href"] == f"/api/parcels/{scene.plot.id}/versions/1"
    assert document["imagery"][0]["thumbnail"] == f"/parcels/{scene.plot.id}/imagery/{document['imagery'][0]['id']}.png"


def test_identify_by_x_y_in_utm_and_by_identity(client, scene):
    from pyproj import Transformer

    x, y = Transformer.from_crs(31901, 32639, always_xy=True).transform(X0 + 30, Y0 + 15)

    by_point = client.get("/api/parcels/identify", {"x": x, "y": y, "crs": "EPSG:32639"}).json()
    by_key = client.get("/api/parcels/identify", {"area": "SALMIYA", "block": "12", "parcel": "2"}).json()

    assert by_point["parcel_id"] == by_key["parcel_id"] == scene.plot.id


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ({"lon": "abc", "lat": "29.3"}, 400, "lon: 'abc' is not a number."),
        ({"lon": "nan", "lat": "29.3"}, 400, "lon: 'nan' is not a finite number."),
        ({"lon": "1e309", "lat": "29.3"}, 400, "lon: '1e309' is not a finite number."),
        ({"lon": "48.0"}, 400, "lat: required."),
        ({"lon": "2.35", "lat": "48.85"}, 400, "is outside the municipality."),
        ({"x": "1", "y": "2", "crs": "EPSG:2039"}, 400, "crs: 'EPSG:2039' is not supported"),
        ({"x": "1", "y": "2", "crs": "' OR 1=1 --"}, 400, "crs: '' OR 1=1 --' is not supported"),
        ({"area": "SALMIYA", "block": "12"}, 400, "parcel: required with area, block and parcel."),
        ({"area": "SALMIYA'; DROP TABLE layers_parcel;--", "block": "12", "parcel": "2"}, 404, "no current parcel 2"),
        # PostgreSQL's text holds no NUL: psycopg2 refused the query (HTTP 500).
        ({"area": "SALMIYA", "block": "12", "parcel": "2\x00"}, 404, "no current parcel 2\\x00 in block 12"),
        ({"area": "\x00", "block": "\x00", "parcel": "\x00"}, 404, "of area '\\x00'."),
        # Far outside the projection's own area: PostGIS could not transform it (HTTP 500).
        ({"x": "1e308", "y": "1e308", "crs": "32638"}, 400, "in EPSG:32638 is outside the municipality."),
        ({"x": "5e7", "y": "1e7", "crs": "EPSG:32638"}, 400, "in EPSG:32638 is outside the municipality."),
        ({"x": "1e30", "y": "1e30", "crs": "31900"}, 400, "in EPSG:31900 is outside the municipality."),
        # Django kept the last of a repeated parameter: the first was read as never given.
        ({"lon": ["47.9", "48.0"], "lat": "29.3"}, 400, "lon: given 2 times; give it once."),
        ({"area": "SALMIYA", "block": "12", "parcel": ["2", "3"]}, 400, "parcel: given 2 times; give it once."),
        ({"x": "1", "y": "2", "crs": ["32638", "4326"]}, 400, "crs: given 2 times; give it once."),
    ],
)
def test_identify_bad_input_gets_a_clear_4xx(client, scene, query, status, message):
    response = client.get("/api/parcels/identify", query)

    assert response.status_code == status
    assert message in response.json()["message"]


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("/api/parcels/abc", 400, "parcel id: 'abc' is not a parcel id"),
        ("/api/parcels/-5", 400, "parcel id: '-5' is not a parcel id"),
        ("/api/parcels/99999999999999999999", 400, "is not a parcel id"),
        ("/api/parcels/987654321", 404, "no parcel with id 987654321."),
        ("/api/parcels/987654321/versions/1", 404, "parcel 987654321 has no version 1."),
        ("/api/parcels/1/versions/x", 400, "version: 'x' is not a version number."),
        ("/parcels/987654321/imagery/1.png", 404, "capture 1 does not cover parcel 987654321."),
        ("/parcels/987654321/map.png", 404, "no parcel with id 987654321."),
        # str.isdigit() takes these, int() does not ("²") or reads them as a number ("٣"): ASCII digits only.
        ("/api/parcels/%C2%B2", 400, "parcel id: '²' is not a parcel id"),
        ("/api/parcels/%D9%A3", 400, "parcel id: '٣' is not a parcel id"),
        ("/api/parcels/1/versions/%C2%B2", 400, "version: '²' is not a version number."),
        ("/parcels/%C2%B2/map.png", 400, "parcel id: '²' is not a parcel id"),
        ("/parcels/1/imagery/%C2%B2.png", 400, "parcel id: '²' is not a parcel id"),
    ],
)
def test_unknown_and_malformed_ids_get_a_clear_4xx(client, scene, path, status, message):
    response = client.get(path)

    assert response.status_code == status
    assert message in response.json()["message"]


def test_an_unknown_parcel_page_is_an_html_404(client, scene):
    response = client.get("/parcels/987654321/")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    assert '<p role="alert">No parcel with id 987654321.</p>' in response.content.decode()  # a sentence, capitalised


def test_the_html_page_shows_every_section_in_both_languages(client, scene):
    page = client.get(f"/parcels/{scene.plot.id}/").content.decode()

    for heading in ("Identity", "الهوية", "Master plan", "المخطط الهيكلي", "Building permits", "رخص البناء",
                    "Building file", "ملف البناء", "Aerial imagery", "Survey history"):  # fmt: skip
        assert heading in page
    assert "Salem Al-Mubarak Street" in page
    assert "شارع سالم المبارك" in page
    assert "Contents restricted" in page
    assert "Owners" not in page
    assert CANARY_OWNER not in page


def test_the_file_s_values_are_in_both_languages_too(client, scene):
    """Its labels were in both languages and its values in English only: "Registered", "Private housing", "Local"."""
    page = client.get(f"/parcels/{scene.plot.id}/").content.decode()

    for value in ("Registered", "Private housing", "Created"):
        assert re.search(rf'{value} <span lang="ar" dir="rtl">[\u0600-\u06ff ]+</span>', page), value
    assert 'Private housing <span lang="ar" dir="rtl">سكن خاص</span>' in page
    assert 'Category <span lang="ar" dir="rtl">الفئة</span>' in page


def test_a_zone_s_permitted_uses_are_words_in_both_languages(client, scene):
    """They were the delivery's keys, in English only: "residential, home_office"."""
    for zone in ZoningZone.objects.all():
        zone.permitted_uses = ["residential", "home_office", "cold_storage"]
        layer_feature_save(feature=zone)

    page = client.get(f"/parcels/{scene.plot.id}/").content.decode()

    assert (
        'Residential <span lang="ar" dir="rtl">سكني</span>, Home office <span lang="ar" dir="rtl">مكتب منزلي</span>,'
        " Cold storage</dd>"  # a use the labels do not know, as words
    ) in page
    assert "home_office" not in page


def test_every_permitted_use_of_the_demo_s_master_plan_has_its_arabic():
    uses = {use for rules in ZONE_RULES.values() for use in rules.permitted_uses.split(";")}
    with translation.override("ar"):
        untranslated = [use for use in uses if re.search("[A-Za-z]", str(PERMITTED_USE_LABELS.get(use, use)))]

    assert untranslated == []


@pytest.mark.parametrize("kind", sorted(CHOICES))
def test_every_choice_a_file_shows_has_its_arabic(kind):
    with translation.override("ar"):
        untranslated = [choice.value for choice in CHOICES[kind] if re.search("[A-Za-z]", str(choice.label))]

    assert untranslated == []


def test_the_share_url_by_identity_leads_to_the_current_parcel(client, scene):
    response = client.get("/parcels/SALMIYA/12/2/")

    assert response.status_code == 302
    assert response["Location"] == f"/parcels/{scene.plot.id}/"
    assert client.get("/parcels/SALMIYA/12/99/").status_code == 404
    assert client.get("/parcels/%00/%00/%00/").status_code == 404  # a NUL names no parcel (it was a 500)
    # Typed by hand from a printed report: in small letters, or with Arabic digits.
    for typed in ("/parcels/salmiya/12/2/", "/parcels/Salmiya/١٢/٢/"):
        assert client.get(typed)["Location"] == f"/parcels/{scene.plot.id}/", typed
    found = client.get("/api/parcels/identify", {"area": "salmiya", "block": "12", "parcel": "2"}).json()
    assert found["parcel_id"] == scene.plot.id


def test_a_share_url_kept_after_its_parcel_was_retired_leads_to_that_parcel_s_last_file(client, scene):
    """A saved or printed link (the report prints it) must not end in a 404 once the parcel is split or merged:
    the retired parcel's file names what it became."""
    import datetime

    from layers.services.parcels import parcel_retire

    parcel_retire(parcel=scene.plot, on=datetime.date(2025, 9, 1))

    response = client.get("/parcels/SALMIYA/12/2/")

    assert response.status_code == 302
    assert response["Location"] == f"/parcels/{scene.plot.id}/"
    assert client.get(f"/parcels/{scene.plot.id}/").status_code == 200
    assert client.get("/api/parcels/identify?area=SALMIYA&block=12&parcel=2").status_code == 404  # current only
    missing = client.get("/parcels/SALMIYA/12/99/")
    assert missing.status_code == 404
    assert "لا توجد قسيمة بهذا الرقم" in missing.content.decode()  # the page is bilingual, its message too


def test_the_pdf_report_is_bilingual_with_a_map(client, scene):
    response = client.get(f"/parcels/{scene.plot.id}/report.pdf")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    reader = pypdf.PdfReader(io.BytesIO(response.content))
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert "Parcel report" in text
    assert "Salmiya" in text
    assert "Zone SAL-B" in text
    assert "BP-2021-000001" in text
    assert "يرجى التحقق" in text  # the Arabic "verify with the municipality" note
    images = [image for page in reader.pages for image in page.images]
    assert images
    assert images[0].image.size == (1440, 880)
    assert CANARY_OWNER not in text


def _pdf_pages(response) -> list[str]:
    assert response.status_code == 200
    return [page.extract_text() for page in pypdf.PdfReader(io.BytesIO(response.content)).pages]


def test_a_planner_s_report_is_marked_restricted_on_every_page_and_a_citizen_s_is_not(client, scene, planner):
    """A printed full file (owners, documents) must say what it is on every sheet, and for whom it was printed."""
    printed = client.get(f"/parcels/{scene.plot.id}/print/").content.decode()
    pages = _pdf_pages(client.get(f"/parcels/{scene.plot.id}/report.pdf"))
    client.logout()
    public = client.get(f"/parcels/{scene.plot.id}/print/").content.decode()
    public_pages = _pdf_pages(client.get(f"/parcels/{scene.plot.id}/report.pdf"))

    assert "<strong>Restricted</strong>: this report holds" in printed
    assert "Printed for planner1, " in printed
    assert len(pages) > 1
    assert all("RESTRICTED" in page for page in pages), pages
    assert CANARY_OWNER in "\n".join(pages)
    assert "Restricted" not in public
    assert not any("RESTRICTED" in page or "Printed for" in page for page in public_pages)


def test_the_report_s_map_credits_whom_its_outlines_are_from(client, scene):
    from layers.models import Governorate

    Governorate.objects.update(source="Natural Earth; © OpenStreetMap contributors (ODbL)")
    Governorate.objects.filter(code="KW-HA").update(source="© OpenStreetMap contributors (ODbL)")

    printed = client.get(f"/parcels/{scene.plot.id}/print/").content.decode()
    pages = _pdf_pages(client.get(f"/parcels/{scene.plot.id}/report.pdf"))

    credit = "Map: © Kuwait Municipality | Natural Earth | © OpenStreetMap contributors (ODbL)"  # each once
    assert credit in printed
    assert "OpenStreetMap contributors" in pages[0]


def test_the_static_map_outlines_the_parcel(client, scene):
    picture = Image.open(io.BytesIO(client.get(f"/parcels/{scene.plot.id}/map.png").content)).convert("RGB")

    assert picture.size == (1440, 880)
    red = sum(1 for pixel in picture.get_flattened_data() if pixel[0] > 170 and pixel[1] < 90 and pixel[2] < 80)
    assert red > 500  # the parcel's outline


def test_an_imagery_thumbnail_is_clipped_to_the_parcel(client, scene):
    document = client.get(f"/api/parcels/{scene.plot.id}").json()

    thumbnail = Image.open(io.BytesIO(client.get(document["imagery"][0]["thumbnail"]).content))

    assert thumbnail.mode == "RGBA"
    width, height = thumbnail.size
    assert max(width, height) <= 256
    centre = thumbnail.getpixel((width // 2, height // 2))
    assert all(abs(got - want) <= 3 for got, want in zip(centre, (200, 120, 40, 255), strict=True))  # a lossy COG


def test_documents_open_only_with_the_contents_permission(client, scene, planner):
    path = f"/parcels/{scene.plot.id}/documents/DOC-SAL-1"

    opened = client.get(path)
    downloaded = client.get(path + "?download=1")
    client.logout()
    refused = client.get(path)

    assert b"".join(opened.streaming_content).find(CANARY_DOCUMENT_TEXT) > 0
    assert downloaded["Content-Disposition"] == 'attachment; filename="DOC-SAL-1.pdf"'
    assert refused.status_code == 403
    assert refused.json()["message"] == "opening building-file documents needs the permission to see document contents."
    assert CANARY_DOCUMENT_TEXT not in refused.content


def test_a_document_path_traversal_or_bad_code_is_refused(client, scene, planner):
    traversal = client.get(f"/parcels/{scene.plot.id}/documents/..%2F..%2Fgeoportal%2Fsettings.py")
    bad_code = client.get(f"/parcels/{scene.plot.id}/documents/DOC-1'%20OR%20'1'='1")
    other_parcel = client.get(f"/parcels/{scene.parcels[0].id}/documents/DOC-SAL-1")

    assert traversal.status_code == 404  # the decoded path has slashes: no document route matches
    assert b"SECRET_KEY" not in traversal.content
    assert bad_code.status_code == 400
    assert bad_code.json()["message"] == "document: 'DOC-1' OR '1'='1' is not a document code."
    assert other_parcel.status_code == 404  # a document is opened only through its own parcel
    assert other_parcel.json()["message"] == f"parcel {scene.parcels[0].id} has no document 'DOC-SAL-1'."


def test_planner_views_are_audited_and_public_views_are_not(client, scene, planner):
    for path in (f"/api/parcels/{scene.plot.id}", f"/parcels/{scene.plot.id}/", f"/parcels/{scene.plot.id}/print/"):
        assert client.get(path, HTTP_USER_AGENT="pytest-agent").status_code == 200
    client.get(f"/parcels/{scene.plot.id}/documents/DOC-SAL-1")
    client.logout()
    client.get(f"/api/parcels/{scene.plot.id}")

    rows = list(ParcelFileView.objects.order_by("id").values_list("username", "parcel_id", "channel", "scopes"))
    assert rows == [
        ("planner1", scene.plot.id, "json", ["document_contents", "owners"]),
        ("planner1", scene.plot.id, "html", ["document_contents", "owners"]),
        ("planner1", scene.plot.id, "print", ["document_contents", "owners"]),
        ("planner1", scene.plot.id, "document", ["document_contents", "owners"]),
    ]
    first = ParcelFileView.objects.order_by("id").first()
    assert (first.client_ip, first.user_agent) == ("127.0.0.1", "pytest-agent")


def test_a_planner_s_head_of_the_file_is_answered_and_not_audited(client, scene, planner):
    """HEAD is answered as GET is, without the body: nothing of the file was shown, so nothing is recorded as viewed."""
    paths = [f"/api/parcels/{scene.plot.id}", f"/parcels/{scene.plot.id}/", f"/parcels/{scene.plot.id}/print/",
             f"/parcels/{scene.plot.id}/documents/DOC-SAL-1"]  # fmt: skip

    assert [client.head(path).status_code for path in paths] == [200, 200, 200, 200]
    assert not ParcelFileView.objects.exists()


def test_a_ministry_account_gets_its_grant_and_is_audited(client, scene):
    from django.contrib.auth.models import Permission

    registry = Group.objects.create(name="Ministry of Justice – real-estate registry")
    registry.permissions.add(Permission.objects.get(codename="view_owner_data"))
    user = User.objects.create_user("moj-registry", password="x")  # noqa: S106
    user.groups.add(registry)
    client.force_login(user)

    document = client.get(f"/api/parcels/{scene.plot.id}").json()

    assert document["owners"][0]["name_en"] == CANARY_OWNER
    assert document["building_file"][0]["contents"] == "restricted"
    assert "preview" not in document["building_file"][0]
    assert client.get(f"/parcels/{scene.plot.id}/documents/DOC-SAL-1").status_code == 403
    assert ParcelFileView.objects.get().scopes == ["owners"]


def test_the_admin_lists_and_exports_the_audit_log(client, scene, planner):
    client.get(f"/api/parcels/{scene.plot.id}")
    admin = User.objects.create_superuser("auditor", password="x")  # noqa: S106
    client.force_login(admin)

    listing = client.get("/admin/layers/parcelfileview/")
    exported = client.post(
        "/admin/layers/parcelfileview/",
        {"action": "export_csv", "_selected_action": list(ParcelFileView.objects.values_list("pk", flat=True))},
    )

    assert listing.status_code == 200
    assert "planner1" in listing.content.decode()
    rows = list(csv.reader(io.StringIO(exported.content.decode())))
    assert rows[0] == ["viewed_at", "username", "parcel_id", "channel", "scopes", "document_code", "client_ip",
                       "user_agent"]  # fmt: skip
    assert rows[1][1:5] == ["planner1", str(scene.plot.id), "json", "document_contents owners"]
    assert client.get(f"/admin/layers/parcelfileview/{ParcelFileView.objects.get().pk}/delete/").status_code == 403


def test_enumerating_files_is_rate_limited(client, scene, settings, fresh_rate_window):
    settings.PARCEL_FILE_RATE_ANONYMOUS = 5
    statuses = [client.get(f"/api/parcels/{scene.plot.id + offset}").status_code for offset in range(7)]
    limited = client.get(f"/api/parcels/{scene.plot.id}")

    assert statuses[:5] != [429] * 5
    assert statuses[5:] == [429, 429]
    assert limited.status_code == 429
    assert int(limited["Retry-After"]) in range(1, 62)
    assert limited.json()["message"].startswith("too many requests: at most 5 a minute; try again in")


def test_signed_in_users_have_their_own_higher_limit(client, scene, settings, planner, fresh_rate_window):
    settings.PARCEL_FILE_RATE_ANONYMOUS, settings.PARCEL_FILE_RATE_SIGNED_IN = 1, 3
    statuses = [client.get(f"/api/parcels/{scene.plot.id}").status_code for _ in range(4)]

    assert statuses == [200, 200, 200, 429]


def test_a_busy_renderer_answers_503_with_retry_after_for_the_report(client, scene, settings):
    from tiles.render_slots import render_slot

    settings.TILE_RENDER_CONCURRENCY, settings.TILE_RENDER_QUEUE = 1, 0
    settings.TILE_REDIS_NAMESPACE = f"test-tiles-{uuid.uuid4().hex}"
    with render_slot():  # the only raster slot is taken
        response = client.get(f"/parcels/{scene.plot.id}/report.pdf")

    assert response.status_code == 503
    assert response["Retry-After"] == "2"
    assert response.json()["message"] == "too many tiles are being rendered; try again shortly."
