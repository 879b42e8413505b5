"""layers/admin.py: every layer in the admin, offline maps, and parcels saved through the services."""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.contrib.gis.geos import GEOSGeometry, LineString, MultiLineString, Point
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from layers.models import (
    AerialImage,
    Area,
    Block,
    BuildingFileDocument,
    BuildingPermit,
    ChangeEvent,
    Governorate,
    Landmark,
    Municipality,
    Parcel,
    ParcelLineage,
    ParcelOwner,
    ParcelStatus,
    ParcelVersion,
    Street,
    ZoningZone,
)
from layers.services.parcels import parcel_create, parcel_split
from layers.services.permits import ParcelKey, building_permit_create
from tests.factories import AreaFactory, BlockFactory, parcel_survey
from tests.geometry_helpers import SALMIYA_X, SALMIYA_Y, bow_tie, ktm_multipolygon, ktm_rectangle

DAY_ONE = datetime.date(2024, 1, 15)
SPLIT_DAY = datetime.date(2024, 6, 1)
# Riyadh, in KTM metres: a valid polygon far outside the municipality.
RIYADH_X, RIYADH_Y = 368_417, 2_733_442


@dataclass
class AdminLayers:
    """One or more rows of every layer; ``counts`` is each changelist's expected total."""

    block: Block
    parcel: Parcel
    retired: Parcel
    counts: dict[type, int]


def _parcel(block: Block, number: str, x: float, width: float = 25.0) -> Parcel:
    survey = parcel_survey(ktm_rectangle(x, SALMIYA_Y, width=width), survey_ref=f"SV-{number}")
    return parcel_create(block=block, number=number, survey=survey, valid_from=DAY_ONE)


@pytest.fixture
def admin_layers(municipality) -> AdminLayers:
    """Build every layer: parcels through the services (one of them split), the rest with the ORM."""
    block = BlockFactory(area=AreaFactory(), number="77")
    parcel = _parcel(block, "1", SALMIYA_X)
    retired = _parcel(block, "2", SALMIYA_X + 50)
    parcel_split(
        parcel=retired,
        parts={
            "3": parcel_survey(ktm_rectangle(SALMIYA_X + 50, SALMIYA_Y, width=12.5), surveyed_area_m2=Decimal(375)),
            "4": parcel_survey(ktm_rectangle(SALMIYA_X + 62.5, SALMIYA_Y, width=12.5), surveyed_area_m2=Decimal(375)),
        },
        on=SPLIT_DAY,
    )
    ParcelOwner.objects.create(parcel=parcel, name_ar="مالك", name_en="Owner", civil_id="287010112345", share_pct=100)
    permit = building_permit_create(
        number="BP-2025-000001",
        parcel_key=ParcelKey(block.area.code, block.number, "1"),
        permit_type="new_construction",
        status="applied",
        applied_on=datetime.date(2025, 1, 10),
        applicant_ref="APP-1",
    )
    BuildingFileDocument.objects.create(
        code="DOC-1",
        parcel=parcel,
        permit=permit,
        doc_type="site_plan",
        title="Site plan",
        file="building-files/1.pdf",
        pages=2,
        document_date=datetime.date(2025, 1, 10),
        sha256="0" * 64,
    )
    ZoningZone.objects.create(
        code="Z-1",
        category="private_housing",
        name_ar="سكن خاص",
        name_en="Private housing",
        max_floors=3,
        max_height_m=15,
        floor_area_ratio=Decimal("2.10"),
        site_coverage_pct=60,
        setback_front_m=6,
        setback_side_m=2,
        setback_rear_m=2,
        geom=ktm_multipolygon(),
    )
    Street.objects.create(
        code="ST-1",
        number="5",
        name_ar="شارع ٥",
        name_en="Street 5",
        street_class="local",
        area=block.area,
        geom=MultiLineString(
            LineString((SALMIYA_X, SALMIYA_Y - 5), (SALMIYA_X + 300, SALMIYA_Y - 5)), srid=settings.SRID
        ),
    )
    Landmark.objects.create(
        code="LM-1",
        name_ar="مسجد",
        name_en="Mosque",
        category="mosque",
        area=block.area,
        geom=Point(SALMIYA_X + 100, SALMIYA_Y + 100, srid=settings.SRID),
    )
    AerialImage.objects.create(
        name="Salmiya 2024",
        capture_date=datetime.date(2024, 2, 1),
        ground_resolution_m=Decimal("0.150"),
        source="Survey Department",
        cog="imagery/salmiya-2024.tif",
        width=4000,
        height=3000,
        band_count=3,
        geom=ktm_rectangle(width=600, height=450),
    )
    counts = {
        Municipality: 1,
        Governorate: 6,
        Area: 1,
        Block: 1,
        Parcel: 4,
        ParcelVersion: 4,
        ParcelLineage: 2,
        ParcelOwner: 1,
        BuildingPermit: 1,
        BuildingFileDocument: 1,
        ZoningZone: 1,
        Street: 1,
        Landmark: 1,
        AerialImage: 1,
    }
    return AdminLayers(block=block, parcel=parcel, retired=retired, counts=counts)


def _url(model: type, view: str, *args) -> str:
    return reverse(f"admin:layers_{model._meta.model_name}_{view}", args=args)


LAYERS = [
    Municipality,
    Governorate,
    Area,
    Block,
    Parcel,
    ParcelVersion,
    ParcelLineage,
    ParcelOwner,
    BuildingPermit,
    BuildingFileDocument,
    ZoningZone,
    Street,
    Landmark,
    AerialImage,
]
# History is written by the services, and the municipality's extent by municipality_extent_refresh.
NO_ADD = {Municipality, ParcelVersion, ParcelLineage}


@pytest.mark.parametrize("model", LAYERS, ids=lambda model: model.__name__)
def test_changelist_shows_the_count_and_reads_no_geometry(admin_client, admin_layers, model):
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(_url(model, "changelist"))

    assert response.status_code == 200
    count = admin_layers.counts[model]
    assert response.context["cl"].result_count == count
    name = model._meta.verbose_name if count == 1 else model._meta.verbose_name_plural
    assert re.search(rf'<p class="paginator">\s*{count} {name}', response.content.decode())
    for query in queries.captured_queries:
        assert not re.search(r'\."(geom|geom_3857|extent)"', query["sql"].split(" FROM ")[0]), query["sql"]


@pytest.mark.parametrize("model", LAYERS, ids=lambda model: model.__name__)
def test_add_page_is_offered_except_for_history(admin_client, admin_layers, model):
    response = admin_client.get(_url(model, "add"))

    assert response.status_code == (403 if model in NO_ADD else 200)


# An editable map for the geometry layers ("id_geom"), a read-only one where the geometry is not edited.
MAPS_ON_THE_CHANGE_PAGE = {
    Municipality: ["id_extent_preview"],
    ParcelVersion: ["id_geom_preview"],
    ParcelLineage: [],
    ParcelOwner: [],
    BuildingPermit: [],
    BuildingFileDocument: [],
}


@pytest.mark.parametrize("model", LAYERS, ids=lambda model: model.__name__)
def test_change_page_of_every_layer_shows_its_geometry_on_a_map(admin_client, admin_layers, model):
    row = model.objects.order_by("pk").first()

    response = admin_client.get(_url(model, "change", row.pk))

    assert response.status_code == 200
    maps = re.findall(r'<div id="(id_\w+)_map" class="dj_map"></div>', response.content.decode())
    assert maps == MAPS_ON_THE_CHANGE_PAGE.get(model, ["id_geom"])


def test_admin_index_counts_every_layer(admin_client, admin_layers):
    html = admin_client.get(reverse("admin:index")).content.decode()

    assert '<td style="text-align:end" data-layer="parcels">3</td>' in html  # current parcels only
    assert '<td style="text-align:end" data-layer="governorates">6</td>' in html
    assert '<td style="text-align:end" data-layer="building permits">1</td>' in html


def test_change_page_serves_its_map_from_our_own_static_files(admin_client, admin_layers):
    html = admin_client.get(_url(Parcel, "change", admin_layers.parcel.pk)).content.decode()

    assert '<script src="/static/vendor/ol/ol.js"></script>' in html
    assert '<link href="/static/vendor/ol-css/ol.css" media="all" rel="stylesheet">' in html
    assert '<div id="id_geom_map" class="dj_map"></div>' in html
    assert not re.search(r"""(?:src|href)=["'](?:https?:)?//""", html)
    assert "cdn.jsdelivr.net" not in html


def _stored_counts() -> tuple[int, int, int]:
    return Parcel.objects.count(), ParcelVersion.objects.count(), LogEntry.objects.count()


def _parcel_form(block: Block, geom: str, **overrides) -> dict:
    data = {
        "block": block.pk,
        "number": "12",
        "land_use": "private_housing",
        "surveyed_area_m2": "750.00",
        "survey_ref": "SV-2025-000012",
        "survey_date": "2025-01-15",
        "status": "registered",
        "geom": geom,
    }
    data.update(overrides)
    return data


def _as_sent_by_the_map(geom: GEOSGeometry) -> str:
    """Serialise as the OpenLayers widget posts it: GeoJSON in the map's EPSG:3857."""
    return geom.transform(3857, clone=True).json


def test_parcel_added_through_the_admin_records_its_first_version(admin_client, block):
    drawn = ktm_rectangle(SALMIYA_X + 200, SALMIYA_Y)

    response = admin_client.post(_url(Parcel, "add"), _parcel_form(block, _as_sent_by_the_map(drawn)))

    assert response.status_code == 302
    parcel = Parcel.objects.get(block=block, number="12")
    version = parcel.versions.get()
    today = timezone.localdate()
    assert (parcel.version, parcel.valid_from, version.version, version.valid_from, version.change) == (
        1,
        today,
        1,
        today,
        "created",
    )
    assert parcel.geom.srid == settings.SRID
    assert parcel.geom.equals_exact(drawn, tolerance=0.001)
    assert version.geom.equals_exact(drawn, tolerance=0.001)


def test_parcel_changed_through_the_admin_records_a_new_version(admin_client, admin_layers):
    parcel = admin_layers.parcel
    moved = ktm_rectangle(SALMIYA_X + 1, SALMIYA_Y)

    response = admin_client.post(
        _url(Parcel, "change", parcel.pk),
        _parcel_form(admin_layers.block, _as_sent_by_the_map(moved), survey_ref="SV-2025-RESURVEY"),
    )

    assert response.status_code == 302
    parcel.refresh_from_db()
    today = timezone.localdate()
    assert (parcel.version, parcel.valid_from, parcel.survey_ref) == (2, today, "SV-2025-RESURVEY")
    assert parcel.geom.equals_exact(moved, tolerance=0.001)
    first, second = parcel.versions.order_by("version")
    assert (first.valid_from, first.valid_to, first.survey_ref) == (DAY_ONE, today, "SV-1")
    assert (second.valid_from, second.valid_to, second.change) == (today, None, "changed")


def test_unchanged_parcel_save_records_no_version(admin_client, admin_layers):
    parcel = admin_layers.parcel
    data = _parcel_form(
        admin_layers.block,
        _as_sent_by_the_map(parcel.geom),
        survey_ref="SV-1",
        survey_date="2024-01-15",
        surveyed_area_m2="750.00",
    )

    response = admin_client.post(_url(Parcel, "change", parcel.pk), data)

    assert response.status_code == 302
    assert parcel.versions.count() == 1


def test_geometry_sent_back_unchanged_by_the_map_is_kept_exactly(admin_client, admin_layers):
    # Through EPSG:3857 and back, the vertices move by about a millimetre: the stored ones stay.
    parcel = admin_layers.parcel
    stored = parcel.geom
    data = _parcel_form(
        admin_layers.block,
        _as_sent_by_the_map(stored),
        survey_ref="SV-1-CORRECTED",
        survey_date="2024-01-15",
        surveyed_area_m2="750.00",
    )

    admin_client.post(_url(Parcel, "change", parcel.pk), data)

    parcel.refresh_from_db()
    assert (parcel.version, parcel.survey_ref) == (2, "SV-1-CORRECTED")
    assert parcel.geom.coords == stored.coords


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        pytest.param(
            {"geom": bow_tie().ewkt},
            "geom",
            f"geom: invalid geometry: Self-intersection[{SALMIYA_X + 10:.0f} {SALMIYA_Y + 10:.0f}].",
            id="self-intersecting bow-tie",
        ),
        pytest.param(
            {"number": "1"},
            "number",
            "number: parcel 1 already exists in Salmiya block 77.",
            id="duplicate number in the block",
        ),
        pytest.param(
            {"number": "<b>12</b>"},
            "number",
            "number: a parcel number may hold only letters, digits, '-' and '_'.",
            id="markup in the number (it makes the share link and is written into pages)",
        ),
        pytest.param(
            {"geom": _as_sent_by_the_map(ktm_rectangle(RIYADH_X, RIYADH_Y))},
            "geom",
            "geom: the geometry lies outside the municipality's extent "
            "(check its coordinate reference system: EPSG:31901 was declared).",
            id="outside the municipality",
        ),
    ],
)
def test_parcel_refused_by_the_service_shows_its_message_and_stores_nothing(
    admin_client, admin_layers, overrides, field, message
):
    before = _stored_counts()
    data = _parcel_form(admin_layers.block, _as_sent_by_the_map(ktm_rectangle(SALMIYA_X + 200, SALMIYA_Y)))
    data.update(overrides)

    response = admin_client.post(_url(Parcel, "add"), data)

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {field: [message]}
    assert f'<ul class="errorlist" id="id_{field}_error"><li>{escape(message)}</li></ul>' in response.content.decode()
    assert _stored_counts() == before


def test_parcel_change_refused_by_the_service_keeps_the_current_version(admin_client, admin_layers):
    parcel = admin_layers.parcel
    before = _stored_counts()

    response = admin_client.post(_url(Parcel, "change", parcel.pk), _parcel_form(admin_layers.block, bow_tie().ewkt))

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["geom"][0].startswith("geom: invalid geometry: Self-intersection")
    parcel.refresh_from_db()
    assert (parcel.version, parcel.survey_ref) == (1, "SV-1")
    assert _stored_counts() == before


def test_parcel_identity_and_history_are_read_only(admin_client, admin_layers):
    form = admin_client.get(_url(Parcel, "change", admin_layers.parcel.pk)).context["adminform"].form

    assert set(form.fields) == {"land_use", "surveyed_area_m2", "survey_ref", "survey_date", "status", "geom"}
    assert ParcelStatus.RETIRED not in dict(form.fields["status"].choices)


def test_retired_parcel_can_be_viewed_not_changed(admin_client, admin_layers):
    url = _url(Parcel, "change", admin_layers.retired.pk)

    page = admin_client.get(url)

    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="_save"' not in html
    assert 'id="id_geom_preview"' in html  # the geometry is shown on a read-only map
    assert admin_client.post(url, {}).status_code == 403


def test_parcels_are_retired_by_the_service_never_deleted(admin_client, admin_layers):
    parcel = admin_layers.parcel
    changelist = _url(Parcel, "changelist")

    response = admin_client.post(changelist, {"action": "retire_selected", "_selected_action": [parcel.pk]})

    assert response.status_code == 302
    parcel.refresh_from_db()
    today = timezone.localdate()
    assert (parcel.status, parcel.retired_on) == (ParcelStatus.RETIRED, today)
    assert parcel.versions.get().valid_to == today  # history kept, current version closed
    assert admin_client.get(_url(Parcel, "delete", parcel.pk)).status_code == 403
    choices = admin_client.get(changelist).context["action_form"].fields["action"].choices
    assert [name for name, _ in choices if name] == ["retire_selected"]


def test_history_is_read_only(admin_client, admin_layers):
    version = admin_layers.parcel.versions.get()
    url = _url(ParcelVersion, "change", version.pk)

    page = admin_client.get(url)

    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert 'id="id_geom_preview"' in page.content.decode()
    assert admin_client.post(url, {}).status_code == 403
    assert admin_client.post(_url(ParcelVersion, "delete", version.pk), {"post": "yes"}).status_code == 403
    assert ParcelVersion.objects.filter(pk=version.pk).exists()


def test_landmark_outside_the_municipality_is_refused(admin_client, admin_layers):
    data = {
        "code": "LM-2",
        "name_ar": "برج",
        "name_en": "Tower",
        "category": "tourist_site",
        "geom": _as_sent_by_the_map(Point(RIYADH_X, RIYADH_Y, srid=settings.SRID)),
    }

    response = admin_client.post(_url(Landmark, "add"), data)

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "geom": [
            "geom: the geometry lies outside the municipality's extent "
            "(check its coordinate reference system: EPSG:31901 was declared)."
        ]
    }
    assert not Landmark.objects.filter(code="LM-2").exists()


def test_landmark_added_through_the_admin_is_stored_in_the_storage_crs(admin_client, admin_layers):
    point = Point(SALMIYA_X + 150, SALMIYA_Y + 150, srid=settings.SRID)
    data = {
        "code": "LM-2",
        "name_ar": "برج",
        "name_en": "Tower",
        "category": "tourist_site",
        "geom": _as_sent_by_the_map(point),
    }

    response = admin_client.post(_url(Landmark, "add"), data)

    assert response.status_code == 302
    stored = Landmark.objects.get(code="LM-2").geom
    assert stored.srid == settings.SRID
    assert (stored.x, stored.y) == (pytest.approx(point.x, abs=0.001), pytest.approx(point.y, abs=0.001))


def _permit_form(parcel: Parcel, **overrides) -> dict:
    data = {
        "number": "BP-2025-000002",
        "parcel": parcel.pk,
        "permit_type": "fence",
        "status": "applied",
        "applied_on": "2025-03-01",
        "applicant_ref": "APP-2",
    }
    data.update(overrides)
    return data


def test_permit_added_through_the_admin(admin_client, admin_layers):
    response = admin_client.post(_url(BuildingPermit, "add"), _permit_form(admin_layers.parcel))

    assert response.status_code == 302
    permit = BuildingPermit.objects.get(number="BP-2025-000002")
    assert (permit.parcel, permit.permit_type, permit.applied_on) == (
        admin_layers.parcel,
        "fence",
        datetime.date(2025, 3, 1),
    )


def test_permit_issued_before_it_was_applied_for_is_refused(admin_client, admin_layers):
    data = _permit_form(admin_layers.parcel, status="issued", issued_on="2025-02-01")

    response = admin_client.post(_url(BuildingPermit, "add"), data)

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "issued_on": ["issued_on: a permit cannot be issued before it was applied for."]
    }
    assert BuildingPermit.objects.count() == 1


def test_permit_for_a_retired_parcel_is_refused(admin_client, admin_layers):
    response = admin_client.post(_url(BuildingPermit, "add"), _permit_form(admin_layers.retired))

    assert response.status_code == 200
    area = admin_layers.block.area.code
    assert response.context["adminform"].form.errors == {
        "parcel": [f"parcel: there is no current parcel {area} block 77 parcel 2."]
    }
    assert BuildingPermit.objects.count() == 1


def test_parcel_autocomplete_finds_parcels_by_area_and_number(admin_client, admin_layers):
    params = {"app_label": "layers", "model_name": "buildingpermit", "field_name": "parcel", "term": "Salmiya 4"}

    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(reverse("admin:autocomplete"), params)

    assert [result["text"] for result in response.json()["results"]] == ["Salmiya block 77 parcel 4"]
    assert not any('"geom"' in query["sql"] for query in queries.captured_queries)


def test_owner_data_needs_its_own_permission(client, django_user_model, admin_layers):
    clerk = django_user_model.objects.create_user("clerk", password="x", is_staff=True)
    clerk.user_permissions.add(Permission.objects.get(codename="view_parcelowner"))
    client.force_login(clerk)
    url = _url(ParcelOwner, "changelist")

    assert client.get(url).status_code == 403

    clerk.user_permissions.add(Permission.objects.get(codename="view_owner_data"))
    clerk = django_user_model.objects.get(pk=clerk.pk)  # drop the permission cache
    client.force_login(clerk)
    assert client.get(url).status_code == 200


def _change_form(obj, **overrides) -> dict:
    """What the admin's change form of a simple layer posts back for ``obj``, with ``overrides``."""
    names = {Area: ("code", "name_ar", "name_en", "governorate"), Block: ("number", "area"),
             Landmark: ("code", "name_ar", "name_en", "category", "area")}[type(obj)]  # fmt: skip
    data = {name: getattr(obj, f"{name}_id", None) or getattr(obj, name) or "" for name in names}
    return {**data, "geom": _as_sent_by_the_map(obj.geom), **overrides}


def test_a_landmark_given_a_new_code_in_the_admin_leaves_the_feed_under_its_old_one(admin_client, admin_layers):
    """A ministry's copy knows features by key: one "changed" under the new code left the old code's row in it."""
    landmark = Landmark.objects.create(code="LM-OLD", name_ar="برج", name_en="Tower", category="tourist_site",
                                       geom=Point(SALMIYA_X + 150, SALMIYA_Y + 150, srid=settings.SRID))  # fmt: skip
    before = ChangeEvent.objects.count()

    response = admin_client.post(_url(Landmark, "change", landmark.pk), _change_form(landmark, code="LM-NEW"))

    assert response.status_code == 302
    events = ChangeEvent.objects.order_by("id")[before:]
    assert [(event.layer, event.feature_key, event.change) for event in events] == [
        ("landmarks", "LM-OLD", "retired"),
        ("landmarks", "LM-NEW", "added"),
    ]


@pytest.mark.parametrize(
    ("model", "overrides", "field"),
    [(Area, {"code": "RENAMED"}, "code"), (Block, {"number": "99"}, "number")],
)
def test_an_area_or_block_whose_key_others_are_keyed_by_keeps_it(admin_client, admin_layers, model, overrides, field):
    """Blocks are keyed SHARQ/1 and parcels SHARQ/1/7 in the feed, the WFS and share links: a new area code or block
    number would change their keys with no event. It comes with the survey's delivery."""
    obj = admin_layers.block.area if model is Area else admin_layers.block
    before = ChangeEvent.objects.count()

    response = admin_client.post(_url(model, "change", obj.pk), _change_form(obj, **overrides))

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == [field]
    assert "comes with the survey's delivery" in errors[field][0]
    assert ChangeEvent.objects.count() == before
    obj.refresh_from_db()
    assert getattr(obj, field) != overrides[field]
