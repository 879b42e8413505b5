"""Admin forms: the services' geometry checks, and the services' refusals shown as form errors."""

from __future__ import annotations

from django.contrib.gis.gdal import OGRGeomType

from frontend.geo_admin import MapGeometryForm, ServiceErrorForm, ServiceValidatedForm
from geoportal.errors import InvalidGeometry
from layers.models import BuildingPermit, Parcel, ParcelStatus
from layers.services.geometry_checks import geometry_for_storage


def storage_geom_type(model: type, field: str = "geom") -> str:
    """Name the GEOS geometry type that ``model.field`` stores ("Polygon", "MultiPolygon", ...)."""
    return OGRGeomType(model._meta.get_field(field).geom_type).name


class GeometryCheckedForm(ServiceErrorForm, MapGeometryForm):
    """Check the geometry as the services do (type, validity, extent), with their messages.

    A refused geometry is a field error, so the model's own constraint check on it (which would
    only say "Constraint … is violated") is skipped.
    """

    check_extent = True

    def clean(self) -> dict:
        cleaned = super().clean()
        geom = cleaned.get(self.geometry_field)
        if geom is not None and self.geometry_field in self.changed_data:
            try:
                cleaned[self.geometry_field] = geometry_for_storage(
                    geom,
                    geom_type=storage_geom_type(self._meta.model, self.geometry_field),
                    field=self.geometry_field,
                    check_extent=self.check_extent,
                )
            except InvalidGeometry as error:
                self.add_error(self.geometry_field, error.message)
        return cleaned


class ParcelAdminForm(ServiceValidatedForm, MapGeometryForm):
    """A parcel written by parcel_create or parcel_update."""

    class Meta:
        model = Parcel
        fields = ("block", "number", "land_use", "surveyed_area_m2", "survey_ref", "survey_date", "status", "geom")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if "status" in self.fields:
            # A parcel is retired by parcel_retire, split or merge, never by editing its status.
            self.fields["status"].choices = [
                choice for choice in self.fields["status"].choices if choice[0] != ParcelStatus.RETIRED
            ]


class BuildingPermitAddForm(ServiceValidatedForm):
    """A new permit written by building_permit_create."""

    class Meta:
        model = BuildingPermit
        fields = (
            "number",
            "parcel",
            "permit_type",
            "status",
            "applied_on",
            "issued_on",
            "expires_on",
            "completed_on",
            "floors",
            "applicant_ref",
        )
