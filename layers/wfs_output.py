"""The WFS's GML 3.2 GetFeature output, written from database rows rather than model instances.

django-gisserver's ``DBGML32Renderer`` reads each feature as a Django model instance, with the related
objects its flattened columns read (a parcel's block and area, for ``block_number`` and ``area_code``)
prefetched per page, the block's area found one query per block, and writes every element through a
method call. For a page of about 300 parcels that was two thirds of a request (bench/notes.md, WFS).

``RowGML32Renderer`` runs the same query (filters, BBOX, SORTBY, paging and the count of numberMatched
are django-gisserver's) for a tuple of the feature's own columns and its PostGIS-rendered GML, reads
the related columns of the page in one query per foreign key, and writes a feature in one pass. The
related columns are not joined into the page's query: its COUNT for numberMatched would then join a
million parcels to their blocks and areas (twice as long), and a correlated subquery is evaluated for
every row an OFFSET skips. The XML is byte for byte what ``DBGML32Renderer`` writes (tests/layers/
test_wfs.py compares them); a projection it cannot read this way (nested or repeated elements, reverse
relations, custom value getters or managers) is left to ``DBGML32Renderer``.

``SeparatedGeoJsonRenderer`` is django-gisserver's GeoJSON with valid JSON for a request of several queries.
``SpreadsheetSafeCSVRenderer`` is its CSV with no cell a spreadsheet would run as a formula, and one table for a
request of several queries.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from io import BytesIO, StringIO

import orjson
from django.db import models
from django.db.models.query_utils import DeferredAttribute
from gisserver.db import AsGML, get_db_geometry_target
from gisserver.features import FeatureType
from gisserver.output import DBCSVRenderer, DBGeoJsonRenderer, DBGML32Renderer
from gisserver.output.results import SimpleFeatureCollection
from gisserver.output.utils import tag_escape, value_to_xml_string
from gisserver.projection import FeatureProjection
from gisserver.types import XsdElement, XsdNode, XsdTypes

from .wfs_extent import MunicipalFeatureType

VALUE, RELATED, ENVELOPE, GEOMETRY = range(4)
# django-gisserver's COUNT for numberMatched drops the annotations named "_as_…" (rendered geometries).
ENVELOPE_COLUMN = "_as_envelope_gml"
GEOMETRY_COLUMN = "_as_gml_{}"
# Types whose f-string text is their XML text, as in DBGML32Renderer.write_xml_field.
PLAIN_TYPES = frozenset({int, float, Decimal, date, time})


class RelatedColumns:
    """A forward foreign key of the features, and the columns a page reads through it: "block" with
    "number" and "area__code" for a parcel's ``block_number`` and ``area_code``."""

    def __init__(self, foreign_key: models.ForeignKey):
        self.foreign_key = foreign_key
        self.column = 0  # the foreign key's index in a row
        self.paths: list[str] = []
        self.rows: dict = {}  # the related columns by key, for the pages of one response

    def position(self, path: str) -> int:
        if path not in self.paths:
            self.paths.append(path)
        return self.paths.index(path)

    def fetch(self, keys: Iterable) -> None:
        """Read the related columns of the keys not read yet, in one query (None for a key not found)."""
        missing = {key for key in keys if key is not None and key not in self.rows}
        if not missing:
            return
        target = self.foreign_key.target_field.attname
        # The default manager, as django-gisserver's prefetch reads them; no ordering: a block's is its area's name.
        related = self.foreign_key.related_model._default_manager.filter(**{f"{target}__in": missing}).order_by()
        self.rows.update(dict.fromkeys(missing))
        self.rows.update((row[0], row[1:]) for row in related.values_list(target, *self.paths))


@dataclass
class RowLayout:
    """A projection's row: the values_list() fields, then the annotations; each root element as (kind, XML
    name, column index, RelatedColumns or None, position in the related columns)."""

    feature_qname: str
    type_name: str  # "parcels": a feature's gml:id is "parcels.<pk>"
    model_name: str  # "Parcel": its geometry's gml:id is "Parcel.<pk>.<n>"
    fields: list[str] = field(default_factory=lambda: ["pk"])
    annotations: dict = field(default_factory=dict)
    relations: dict[str, RelatedColumns] = field(default_factory=dict)
    elements: list[tuple] = field(default_factory=list)


class RowGML32Renderer(DBGML32Renderer):
    """GetFeature in GML 3.2: the features of a page as rows of their published columns."""

    def __init__(self, *args, **kwargs):
        self.row_layouts: dict[FeatureProjection, RowLayout] = {}  # filled by decorate_queryset(), from super()
        super().__init__(*args, **kwargs)

    def decorate_queryset(self, projection: FeatureProjection, queryset: models.QuerySet) -> models.QuerySet:
        """Select the feature's own columns and its GML as a tuple per feature."""
        if not all(map(_reads_from_row, projection.xsd_root_elements)):
            return super().decorate_queryset(projection, queryset)
        # DBGML32Renderer.decorate_queryset reads these first, and they raise for a PROPERTYNAME that is empty
        # (RuntimeError) or names gml:boundedBy (TypeError): keep refusing those (the view answers a 400).
        _ = projection.orm_relations, projection.only_fields
        layout = self._row_layout(projection, queryset)
        self.row_layouts[projection] = layout
        # values_list() gives the fields, then the annotations, in their order (columns are numbered so).
        return queryset.annotate(**layout.annotations).values_list(*layout.fields, *layout.annotations)

    def _row_layout(self, projection: FeatureProjection, queryset: models.QuerySet) -> RowLayout:
        feature_type = projection.feature_type
        # to_qname() and feature_to_qname() name the elements as django-gisserver's xml_qnames does, which it
        # builds only after the querysets are decorated.
        layout = RowLayout(self.feature_to_qname(feature_type), feature_type.name, feature_type.model._meta.object_name)
        # The same PostGIS expressions as DBGML32Renderer.decorate_queryset, the same output CRS handling.
        use_modern = not projection.output_crs.force_xy
        gml_options = {"is_latlon": use_modern and projection.output_crs.is_north_east_order, "long_urn": use_modern}
        named = []
        for element in projection.xsd_root_elements:
            relation, position = None, 0
            if element.type is XsdTypes.gmlBoundingShapeType:
                kind, name = ENVELOPE, ENVELOPE_COLUMN
                layout.annotations[name] = self.get_db_envelope_as_gml(projection, queryset)
            elif element.type.is_geometry:
                kind, name = GEOMETRY, GEOMETRY_COLUMN.format(element.orm_path)
                layout.annotations[name] = AsGML(get_db_geometry_target(element, projection.output_crs), **gml_options)
            else:
                kind, name = VALUE, element.orm_path
                if element.is_flattened:  # the foreign key's column, and a position in its related columns
                    name, _, path = name.partition("__")
                    relation = layout.relations.get(name) or RelatedColumns(feature_type.model._meta.get_field(name))
                    kind, position, layout.relations[name] = RELATED, relation.position(path), relation
                if name not in layout.fields:
                    layout.fields.append(name)
            named.append((kind, self.to_qname(element), name, relation, position))
        columns = [*layout.fields, *layout.annotations]
        for name, relation in layout.relations.items():
            relation.column = columns.index(name)
        layout.elements = [(kind, qname, columns.index(name), *related) for kind, qname, name, *related in named]
        return layout

    def read_features(self, sub_collection: SimpleFeatureCollection):
        """Read the page's rows, and their related columns in one query per foreign key."""
        layout = self.row_layouts.get(sub_collection.projection)
        if layout is None or not layout.relations:
            return super().read_features(sub_collection)
        rows = list(super().read_features(sub_collection))
        for relation in layout.relations.values():
            relation.fetch(row[relation.column] for row in rows)
        return rows

    def write_feature(self, projection: FeatureProjection, instance, extra_xmlns="") -> None:
        """Write a feature as DBGML32Renderer.write_feature does, from its row."""
        layout = self.row_layouts.get(projection)
        if layout is None:
            return super().write_feature(projection, instance, extra_xmlns=extra_xmlns)
        pk = instance[0]
        parts = [f'<{layout.feature_qname} gml:id="{layout.type_name}.{tag_escape(str(pk))}"{extra_xmlns}>\n']
        for kind, qname, index, relation, position in layout.elements:
            value = instance[index]
            if kind == RELATED and value is not None:
                if value not in relation.rows:  # GetFeatureById's one row, which read_features() does not see
                    relation.fetch([value])
                related = relation.rows[value]
                value = None if related is None else related[position]
            if value is None:
                if kind != ENVELOPE:  # no empty gml:boundedBy, an xsi:nil element otherwise
                    parts.append(f'<{qname} xsi:nil="true"/>\n')
            elif kind in (VALUE, RELATED):
                parts.append(f"<{qname}>{_xml_text(value)}</{qname}>\n")
            elif kind == ENVELOPE:
                parts.append(f"<{qname}>{self._fix_db_crs_name(projection, value)}</{qname}>\n")
            else:
                gml_id = self.get_gml_id(layout.model_name, pk)
                parts.append(f"<{qname}>{self.render_gml_value(projection, gml_id, value)}</{qname}>\n")
        parts.append(f"</{layout.feature_qname}>\n")
        self._write("".join(parts))
        return None


def _xml_text(value):
    """The text of a value, as DBGML32Renderer.write_xml_field writes it."""
    value_class = value.__class__
    if value_class is str:
        return tag_escape(value)
    if value_class is datetime:
        return value.astimezone(UTC).isoformat()
    if value_class is bool:
        return "true" if value else "false"
    if value_class in PLAIN_TYPES:
        return value
    return value_to_xml_string(value)


def _reads_from_row(element: XsdElement) -> bool:
    """Whether a root element's value is one column of a row: gml:boundedBy, the feature's own geometry,
    or a scalar model field read with django-gisserver's default getter through forward relations."""
    if element.type is XsdTypes.gmlBoundingShapeType:
        return True
    if element.type.is_complex_type or element.is_many or element.is_attribute or element.source is None:
        return False
    if element.type.is_geometry:
        return "." not in element.model_attribute  # not a related model's geometry
    source = element.source
    return (
        type(element).get_value is XsdNode.get_value
        and isinstance(source, models.Field)
        and not source.is_relation
        and source.descriptor_class is DeferredAttribute
        and source.value_from_object.__func__ is models.Field.value_from_object
        and _forward_path(element)
    )


def _forward_path(element: XsdElement) -> bool:
    """Whether the element's path walks only forward foreign keys to its field, each related model read
    through a plain default manager (as django-gisserver's prefetch reads it)."""
    feature_type = element.feature_type
    if feature_type is None or not _plain_related_querysets(feature_type):
        return False
    model = feature_type.model
    *relations, name = element.model_attribute.split(".")
    for relation in relations:
        foreign_key = model._meta.get_field(relation)
        if not (foreign_key.concrete and (foreign_key.many_to_one or foreign_key.one_to_one)):
            return False
        model = foreign_key.related_model
        if type(model._default_manager).get_queryset is not models.Manager.get_queryset:
            return False
    return model._meta.get_field(name) is element.source


def _plain_related_querysets(feature_type: FeatureType) -> bool:
    # MunicipalFeatureType's reads the same rows, with their foreign keys' columns as well (layers/wfs_extent.py).
    return (
        type(feature_type).get_related_queryset
        in (FeatureType.get_related_queryset, MunicipalFeatureType.get_related_queryset)
        and type(feature_type).filter_related_queryset is FeatureType.filter_related_queryset
    )


class SeparatedGeoJsonRenderer(DBGeoJsonRenderer):
    """GetFeature in GeoJSON, one list of the features of every query, with a comma only between two features.

    django-gisserver wrote a comma between the queries too, so a response with a query that had no feature on
    the page (a filter that matched none, or COUNT spent on the queries before it) was not JSON. The rest is
    byte for byte its ``render_stream``."""

    def render_stream(self):
        self.output = output = BytesIO()
        output.write(orjson.dumps(self.get_header())[:-1])
        output.write(b',\n  "features": [\n')
        separator = b""
        for sub_collection in self.collection.results:
            for instance in self.read_features(sub_collection):
                output.write(separator + self.render_feature(sub_collection.projection, instance))
                separator = b",\n"
                if output.tell() > self.chunk_size:
                    yield output.getvalue()
                    output.seek(0)
                    output.truncate(0)
        output.write(b"\n  ],\n")
        output.write(orjson.dumps(self.get_footer())[1:])
        output.write(b"\n")
        yield output.getvalue()


# A text cell a spreadsheet reads as a formula (OWASP, "CSV injection"): "=HYPERLINK(…)" in a delivered name would be
# run by Excel or LibreOffice at the ministry that opened the download.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


# The column that names each row's feature type in the CSV of several queries, as QGIS's "Merge vector layers" names
# each feature's source layer.
LAYER_COLUMN = "layer"


class SpreadsheetSafeCSVRenderer(DBCSVRenderer):
    """GetFeature in CSV, a text value that a spreadsheet would take for a formula written with a leading
    apostrophe, which spreadsheets read as "text follows" and do not show. Numbers and the geometry's EWKT are
    as django-gisserver writes them.

    A request of several queries (``TYPENAMES=(parcels)(streets)``, or several ``wfs:Query``) is one table: one
    header, a first column ``layer`` naming each row's feature type, then every column of the queries, in the order
    they first come, the geometry last; a row leaves the columns of the other feature types empty. django-gisserver
    wrote a table per query, each with its own header, one after the other in one file: a spreadsheet, GDAL's CSV
    driver and pandas read the second header as a feature and the second table's values under the first table's
    columns (GeoServer writes the first query's features alone). A request of one query is django-gisserver's."""

    def render_stream(self):
        self.output = output = StringIO()
        writer = csv.writer(output, dialect=self.dialect)
        queries = [(results.projection, results) for results in self.collection.results]
        header = self._one_header([projection for projection, _ in queries])
        writer.writerow(header)
        for projection, results in queries:
            xsd_elements = projection.xsd_root_elements
            placed = self._placed_under(header, projection) if len(queries) > 1 else None
            for instance in self.read_features(results):
                row = self.get_row(instance, projection, xsd_elements)
                writer.writerow(row if placed is None else placed(row))
                if output.tell() > self.chunk_size:  # as django-gisserver streams it
                    yield output.getvalue()
                    output.seek(0)
                    output.truncate(0)
        yield output.getvalue()

    def _one_header(self, projections: list[FeatureProjection]) -> list[str]:
        """The columns of the one query; or of several, after LAYER_COLUMN, in the order they first come, the
        geometries last (a long text a spreadsheet user scrolls past, as in the CSV of one query)."""
        if len(projections) == 1:
            return self.get_header(projections[0], projections[0].xsd_root_elements)
        columns, geometries = [], []
        for projection in projections:
            geometry_names = {element.name for element in projection.xsd_root_elements if element.type.is_geometry}
            for name in self.get_header(projection, projection.xsd_root_elements):
                if name not in columns and name not in geometries:
                    (geometries if name in geometry_names else columns).append(name)
        return [LAYER_COLUMN, *columns, *geometries]

    def _placed_under(self, header: list[str], projection: FeatureProjection):
        """Return a function that writes a row of ``projection`` under ``header``: its feature type's name first,
        each value in its column, the columns of other feature types empty."""
        positions = [header.index(name) for name in self.get_header(projection, projection.xsd_root_elements)]
        empty = [projection.feature_type.name, *[""] * (len(header) - 1)]

        def placed(row: list) -> list:
            cells = empty.copy()
            for position, value in zip(positions, row, strict=True):
                cells[position] = value
            return cells

        return placed

    def get_row(self, instance, projection, xsd_elements):
        return [
            f"'{value}" if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value
            for value in super().get_row(instance, projection, xsd_elements)
        ]
