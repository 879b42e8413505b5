"""layers/models/keys.py: every key refuses what would break an address or a page, in the admin too."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.conf import settings
from django.contrib.gis.geos import LineString, MultiLineString, Point
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.html import escape

from layers.models import Area, Block, ChangeEvent, Governorate, Landmark, Parcel, Street, ZoningZone
from tests.factories import AreaFactory
from tests.geometry_helpers import SALMIYA_X, SALMIYA_Y, ktm_multipolygon

CODE_ALLOWS = "ASCII capitals, digits, '-' and '_'"


@pytest.mark.parametrize(
    ("model", "field", "delivered", "refused", "message"),
    [
        (Governorate, "code", "KW-AH", "KW/AH", f"A governorate code may hold only {CODE_ALLOWS}."),
        (Area, "code", "ABDULLAH_AL_MUBARAK", "SALMIYA\n", f"An area code may hold only {CODE_ALLOWS}."),
        (ZoningZone, "code", "ZAHRA-PH-2", "ZAHRA PH 2", f"A zone code may hold only {CODE_ALLOWS}."),
        (Street, "code", "ABDULLAH_AL_MUBARAK-1-1", "ZAHRA-<script>", f"A street code may hold only {CODE_ALLOWS}."),
        (Street, "code", "ZAHRA-SIXTH_RING", "ZAHRA-SIXTH_RING\n", f"A street code may hold only {CODE_ALLOWS}."),
        (Landmark, "code", "LM-00001", "LM-٠٠٠٠١", f"A landmark code may hold only {CODE_ALLOWS}."),
        (Landmark, "code", "LM-00001", "lm-00001", f"A landmark code may hold only {CODE_ALLOWS}."),
        # Arabic letters and digits belong in a block or parcel number; a final newline does not.
        (Block, "number", "١٠", "10\n", "A block or parcel number may hold only letters, digits, '-' and '_'."),
        (Parcel, "number", "12أ", "12\n", "A block or parcel number may hold only letters, digits, '-' and '_'."),
    ],
)
def test_a_key_field_takes_the_deliveries_keys_and_refuses_others(model, field, delivered, refused, message):
    """Python's '$' also matches before a final newline: a pattern ending in it let "SALMIYA\\n" through."""
    model_field = model._meta.get_field(field)
    model_field.run_validators(delivered)

    with pytest.raises(ValidationError) as error:
        model_field.run_validators(refused)

    assert error.value.messages == [message]


def _geom_as_sent_by_the_map(geom) -> str:
    """The OpenLayers widget posts GeoJSON in the map's EPSG:3857."""
    return geom.transform(3857, clone=True).json


def _street(area: Area) -> tuple[Street, dict]:
    line = LineString((SALMIYA_X, SALMIYA_Y - 5), (SALMIYA_X + 300, SALMIYA_Y - 5))
    street = Street.objects.create(
        code="ZAHRA-SIXTH_RING", name_ar="الدائري السادس", name_en="Sixth Ring Road", street_class="ring_road",
        area=area, geom=MultiLineString(line, srid=settings.SRID),
    )  # fmt: skip
    data = {"number": "", "name_ar": street.name_ar, "name_en": street.name_en, "street_class": "ring_road"}
    return street, {**data, "area": area.pk}


def _zone(area: Area) -> tuple[ZoningZone, dict]:
    regulations = {"max_floors": 3, "max_height_m": Decimal(15), "floor_area_ratio": Decimal("2.1"),
                   "site_coverage_pct": Decimal(60), "setback_front_m": Decimal(4), "setback_side_m": Decimal(2),
                   "setback_rear_m": Decimal(2)}  # fmt: skip
    names = {"category": "private_housing", "name_ar": "سكن خاص", "name_en": "Private housing"}
    zone = ZoningZone.objects.create(code="ZAHRA-PH-2", **names, **regulations, geom=ktm_multipolygon())
    return zone, {**names, **regulations, "permitted_uses": "residential,home_office"}


def _landmark(area: Area) -> tuple[Landmark, dict]:
    names = {"name_ar": "أبراج الكويت", "name_en": "Kuwait Towers", "category": "tourist_site"}
    landmark = Landmark.objects.create(
        code="LM-00001", **names, area=area, geom=Point(SALMIYA_X + 100, SALMIYA_Y + 100, srid=settings.SRID)
    )
    return landmark, {**names, "area": area.pk}


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (_street, f"A street code may hold only {CODE_ALLOWS}."),
        (_zone, f"A zone code may hold only {CODE_ALLOWS}."),
        (_landmark, f"A landmark code may hold only {CODE_ALLOWS}."),
    ],
    ids=["street", "zone", "landmark"],
)
@pytest.mark.parametrize(
    "code",
    [
        pytest.param("<script>alert(1)</script>", id="markup"),
        pytest.param("ZAHRA/1", id="slash"),
        pytest.param("ZAHRA-1'; DROP TABLE layers_street; --", id="sql"),
        pytest.param("ZAHRA\r\n1", id="line break"),
        pytest.param("ZAHRA-١", id="arabic-indic digit"),
    ],
)
def test_a_planner_editing_a_code_to_a_bad_one_gets_a_form_error(admin_client, municipality, build, message, code):
    feature, data = build(AreaFactory(code="ZAHRA"))
    url = reverse(f"admin:layers_{feature._meta.model_name}_change", args=[feature.pk])
    stored, before = feature.code, ChangeEvent.objects.count()

    response = admin_client.post(url, {**data, "code": code, "geom": _geom_as_sent_by_the_map(feature.geom)})

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {"code": [message]}
    html = response.content.decode()
    assert f'<ul class="errorlist" id="id_code_error"><li>{escape(message)}</li></ul>' in html
    assert "<script>alert(1)</script>" not in html  # the value sent back into the form is escaped
    feature.refresh_from_db()
    assert (feature.code, feature.version) == (stored, 1)
    assert ChangeEvent.objects.count() == before
