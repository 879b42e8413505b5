"""Set-based validation of a staged layer: every bad feature is named with its reason.

The column and table names come from our own LayerSpecs, never from a delivery; values that do
come from a delivery only ever travel as query parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from django.db import connection

from .report import PROBLEMS_LISTED_PER_CHECK, ImportReport
from .staging import STAGING_SCHEMA

DATE_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$"
NUMBER_PATTERN = r"^-?\d+(\.\d+)?$"
# What each target geometry type accepts from a delivery (a single part promotes to multi).
ACCEPTED_GEOMETRY_TYPES = {
    "POLYGON": ("ST_Polygon",),
    "MULTIPOLYGON": ("ST_Polygon", "ST_MultiPolygon"),
    "MULTILINESTRING": ("ST_LineString", "ST_MultiLineString"),
    "POINT": ("ST_Point",),
}
OUTSIDE_EXTENT = "lies outside the municipality's extent (wrong coordinate reference system?)"


@dataclass(frozen=True)
class LayerSpec:
    """What a delivered layer must hold, and which of its columns form the stable key."""

    layer: str
    key: tuple[str, ...]
    geom_type: str | None = None
    required: tuple[str, ...] = ()
    choices: dict[str, tuple[str, ...]] = field(default_factory=dict)
    numbers: tuple[str, ...] = ()
    dates: tuple[str, ...] = ()
    optional_dates: tuple[str, ...] = ()
    check_extent: bool = True
    unique_key: bool = True  # False: several rows may share a key (e.g. co-owners of a parcel)


class Check(NamedTuple):
    """A WHERE condition that finds bad rows, and the SQL expression that says why."""

    condition: str
    message_sql: str = "%s"
    condition_params: tuple = ()
    message_params: tuple = ()


def _label(spec: LayerSpec) -> str:
    keys = " || '/' || ".join(f"coalesce({column}::text, '?')" for column in spec.key)
    return f"('#' || fid || ' ' || {keys})"


def problem_rows(table: str, label: str, check: Check) -> tuple[list, int]:
    """Return up to PROBLEMS_LISTED_PER_CHECK (feature, message) rows, and how many there are."""
    sql = (
        f'SELECT {label}, {check.message_sql}, count(*) OVER () FROM {STAGING_SCHEMA}."{table}" AS s '
        f"WHERE {check.condition} ORDER BY fid LIMIT {PROBLEMS_LISTED_PER_CHECK}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*check.message_params, *check.condition_params])
        rows = cursor.fetchall()
    total = rows[0][2] if rows else 0
    return [(feature, message) for feature, message, _total in rows], total


def _field_checks(spec: LayerSpec) -> list[Check]:
    checks = [
        Check(f"nullif(trim({column}::text), '') IS NULL", message_params=(f"{column} is missing",))
        for column in (*spec.key, *spec.required)
    ]
    for column, allowed in spec.choices.items():
        checks.append(
            Check(
                f"{column} IS NOT NULL AND NOT ({column}::text = ANY(%s))",
                f"%s || {column} || %s",
                (list(allowed),),
                (f"{column} '", "' is not one of " + ", ".join(allowed)),
            )
        )
    for column in spec.numbers:
        checks.append(
            Check(
                f"{column} IS NOT NULL AND {column}::text !~ %s",
                f"%s || {column}",
                (NUMBER_PATTERN,),
                (f"{column} is not a number: ",),
            )
        )
    for column in (*spec.dates, *spec.optional_dates):
        checks.append(
            Check(
                f"nullif({column}::text, '') IS NOT NULL AND {column}::text !~ %s",
                f"%s || {column}",
                (DATE_PATTERN,),
                (f"{column} is not a date (YYYY-MM-DD): ",),
            )
        )
    return checks


def _geometry_checks(spec: LayerSpec) -> list[Check]:
    if not spec.geom_type:
        return []
    checks = [
        Check("geom IS NULL OR ST_IsEmpty(geom)", message_params=("the geometry is missing or empty",)),
        Check(
            "geom IS NOT NULL AND NOT (ST_GeometryType(geom) = ANY(%s))",
            "%s || ST_GeometryType(geom)",
            (list(ACCEPTED_GEOMETRY_TYPES[spec.geom_type]),),
            (f"expected a {spec.geom_type.lower()}, got ",),
        ),
        Check("geom IS NOT NULL AND NOT ST_IsValid(geom)", "'invalid geometry: ' || ST_IsValidReason(geom)"),
    ]
    if spec.check_extent:
        checks.append(
            Check(
                "geom IS NOT NULL AND ST_IsValid(geom) AND NOT ST_CoveredBy(geom, "
                "(SELECT extent FROM layers_municipality LIMIT 1))",
                message_params=(OUTSIDE_EXTENT,),
            )
        )
    return checks


def _duplicate_keys(table: str, spec: LayerSpec) -> tuple[list, int]:
    columns = ", ".join(spec.key)
    duplicated = f'SELECT {columns} FROM {STAGING_SCHEMA}."{table}" GROUP BY {columns} HAVING count(*) > 1'
    check = Check(f"({columns}) IN ({duplicated})", message_params=("the key appears more than once in the delivery",))
    return problem_rows(table, _label(spec), check)


def columns_missing(table: str, spec: LayerSpec) -> list[str]:
    """Return the columns the spec needs that the staged layer lacks."""
    needed = dict.fromkeys((*spec.key, *spec.required, *spec.choices, *spec.numbers, *spec.dates, *spec.optional_dates))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s",
            [STAGING_SCHEMA, table],
        )
        present = {row[0] for row in cursor.fetchall()}
    return [column for column in needed if column not in present]


def layer_validate(report: ImportReport, table: str, spec: LayerSpec) -> None:
    """Add every problem of the staged layer to the report."""
    label = _label(spec)
    for check in (*_field_checks(spec), *_geometry_checks(spec)):
        rows, total = problem_rows(table, label, check)
        report.add_problems(spec.layer, rows, total)
    if spec.unique_key:
        rows, total = _duplicate_keys(table, spec)
        report.add_problems(spec.layer, rows, total)


def references_validate(
    report: ImportReport,
    table: str,
    spec: LayerSpec,
    *,
    join_condition: str,
    target: str,
    what: str,
    only_when: str = "TRUE",
) -> None:
    """Report rows (those matching ``only_when``) whose reference matches nothing in ``target``."""
    check = Check(
        f"({only_when}) AND NOT EXISTS (SELECT 1 FROM {target} WHERE {join_condition})",
        message_params=(f"refers to an unknown {what}",),
    )
    rows, total = problem_rows(table, _label(spec), check)
    report.add_problems(spec.layer, rows, total)
