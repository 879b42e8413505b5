"""Set-based validation of a staged layer: every bad feature is named with its reason.

The column and table names come from our own LayerSpecs, never from a delivery; values that do
come from a delivery only ever travel as query parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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


def _label(spec: LayerSpec) -> str:
    keys = " || '/' || ".join(f"coalesce({column}::text, '?')" for column in spec.key)
    return f"('#' || fid || ' ' || {keys})"


def problem_rows(table: str, label: str, condition: str, message_sql: str, params: list) -> tuple[list, int]:
    sql = (
        f'SELECT {label}, {message_sql}, count(*) OVER () FROM {STAGING_SCHEMA}."{table}" AS s '
        f"WHERE {condition} ORDER BY fid LIMIT {PROBLEMS_LISTED_PER_CHECK}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    total = rows[0][2] if rows else 0
    return [(feature, message) for feature, message, _total in rows], total


def _conditions(spec: LayerSpec) -> list[tuple[str, str, list]]:
    """Return (condition, message SQL, params) per check, in the order a person fixes them."""
    checks: list[tuple[str, str, list]] = []
    for column in (*spec.key, *spec.required):
        checks.append((f"nullif(trim({column}::text), '') IS NULL", "%s", [f"{column} is missing"]))
    for column, allowed in spec.choices.items():
        checks.append(
            (
                f"{column} IS NOT NULL AND NOT ({column}::text = ANY(%s))",
                f"'{column} ''' || {column} || ''' is not one of ' || %s",
                [list(allowed), ", ".join(allowed)],
            )
        )
    for column in spec.numbers:
        checks.append(
            (
                f"{column} IS NOT NULL AND {column}::text !~ %s",
                f"'{column} is not a number: ' || {column}",
                [NUMBER_PATTERN],
            )
        )
    for column in (*spec.dates, *spec.optional_dates):
        checks.append(
            (
                f"nullif({column}::text, '') IS NOT NULL AND {column}::text !~ %s",
                f"'{column} is not a date (YYYY-MM-DD): ' || {column}",
                [DATE_PATTERN],
            )
        )
    if spec.geom_type:
        accepted = list(ACCEPTED_GEOMETRY_TYPES[spec.geom_type])
        checks += [
            ("geom IS NULL OR ST_IsEmpty(geom)", "%s", ["the geometry is missing or empty"]),
            (
                "geom IS NOT NULL AND NOT (ST_GeometryType(geom) = ANY(%s))",
                f"'expected a {spec.geom_type.lower()}, got ' || ST_GeometryType(geom)",
                [accepted],
            ),
            ("geom IS NOT NULL AND NOT ST_IsValid(geom)", "'invalid geometry: ' || ST_IsValidReason(geom)", []),
        ]
    if spec.geom_type and spec.check_extent:
        checks.append(
            (
                "geom IS NOT NULL AND ST_IsValid(geom) AND NOT ST_CoveredBy(geom, "
                "(SELECT extent FROM layers_municipality LIMIT 1))",
                "%s",
                ["lies outside the municipality's extent (wrong coordinate reference system?)"],
            )
        )
    return checks


def _duplicate_keys(table: str, spec: LayerSpec) -> tuple[list, int]:
    columns = ", ".join(spec.key)
    condition = (
        f'({columns}) IN (SELECT {columns} FROM {STAGING_SCHEMA}."{table}" GROUP BY {columns} HAVING count(*) > 1)'
    )
    return problem_rows(table, _label(spec), condition, "%s", ["the key appears more than once in the delivery"])


def layer_validate(report: ImportReport, table: str, spec: LayerSpec) -> None:
    """Add every problem of the staged layer to the report."""
    label = _label(spec)
    for condition, message_sql, params in _conditions(spec):
        rows, total = problem_rows(table, label, condition, message_sql, params)
        report.add_problems(spec.layer, rows, total)
    rows, total = _duplicate_keys(table, spec)
    report.add_problems(spec.layer, rows, total)


def references_validate(
    report: ImportReport, table: str, spec: LayerSpec, *, join_condition: str, target: str, what: str
) -> None:
    """Report rows whose reference (e.g. a parcel's block) matches nothing in ``target``."""
    condition = f"NOT EXISTS (SELECT 1 FROM {target} WHERE {join_condition})"
    rows, total = problem_rows(table, _label(spec), condition, "%s", [f"refers to an unknown {what}"])
    report.add_problems(spec.layer, rows, total)
