"""Set-based validation of a staged layer: every bad feature is named with its reason.

The column and table names come from our own LayerSpecs, never from a delivery; values that do
come from a delivery only ever travel as query parameters.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from decimal import Decimal
from typing import NamedTuple

from django.db import connection

from .report import PROBLEMS_LISTED_PER_CHECK, ImportReport
from .staging import STAGING_SCHEMA

# Years 1000-2999 only, so that make_date() in _not_a_date() cannot fail.
DATE_PATTERN = r"^[12]\d{3}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$"
DATE_RANGE = (datetime.date(1000, 1, 1), datetime.date(2999, 12, 31))  # the same years, for date columns
NUMBER_PATTERN = r"^-?\d+(\.\d+)?$"
# What each target geometry type accepts from a delivery (a single part promotes to multi).
ACCEPTED_GEOMETRY_TYPES = {
    "POLYGON": ("ST_Polygon",),
    "MULTIPOLYGON": ("ST_Polygon", "ST_MultiPolygon"),
    "MULTILINESTRING": ("ST_LineString", "ST_MultiLineString"),
    "POINT": ("ST_Point",),
}
# What a repair keeps of ST_MakeValid's result (ST_CollectionExtract type): the target's dimension.
REPAIR_KEEPS = {"POLYGON": 3, "MULTIPOLYGON": 3, "MULTILINESTRING": 2, "POINT": 1}
MUNICIPALITY_EXTENT = "(SELECT extent FROM layers_municipality LIMIT 1)"
OUTSIDE_EXTENT = "lies outside the municipality's extent (wrong coordinate reference system?)"
# A report shows a delivered value (a key in a row's label, the value a problem is about) in one line of readable size,
# whatever it holds: its first SHOWN_CHARACTERS, then its length; a control character as its picture (a newline is ␊,
# Unicode's Control Pictures), so that a value can neither start a line of its own nor move a terminal's cursor. The
# C1 controls and the line and paragraph separators, which have no pictures, as U+FFFD.
SHOWN_CHARACTERS = 100
CONTROL_PICTURES = {chr(code): chr(0x2400 + code) for code in range(1, 32)} | {"\x7f": "\u2421"}
CONTROL_PICTURES |= {chr(code): "\ufffd" for code in (*range(0x80, 0xA0), 0x2028, 0x2029)}


class Range(NamedTuple):
    """The values a number column may take: what the stored column's checks and size accept."""

    low: Decimal
    high: Decimal
    low_open: bool = False  # True: low itself is not allowed (an area or a share must be more than 0)
    whole: bool = False  # True: a count (floors, pages), stored as an integer

    def describe(self) -> str:
        bounds = f"{'more than' if self.low_open else 'at least'} {self.low} and at most {self.high}"
        return f"a whole number {bounds}" if self.whole else bounds


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
    optional_text: tuple[str, ...] = ()  # text columns a delivery may leave out: staged empty (VectorDeliverySource)
    # Text columns → (a PostgreSQL regular expression the whole value must match, what it allows, said in a report).
    patterns: dict[str, tuple[str, str]] = field(default_factory=dict)
    check_extent: bool = True
    unique_key: bool = True  # False: several rows may share a key (e.g. co-owners of a parcel)
    max_lengths: dict[str, int] = field(default_factory=dict)  # text columns → the stored column's length
    ranges: dict[str, Range] = field(default_factory=dict)  # number columns → the values they may take
    # Columns whose values no report repeats: owner data (names, civil ids, shares, applicants), which whoever may
    # read import jobs need not be allowed to see. A problem there is named by its row and column only.
    withheld: tuple[str, ...] = ()

    @property
    def text_columns(self) -> tuple[str, ...]:
        """The columns stored as text, which a delivery may have typed otherwise (a Shapefile's numeric block_no)."""
        typed = {*self.numbers, *self.dates, *self.optional_dates}
        columns = (*self.key, *self.required, *self.patterns, *self.choices, *self.max_lengths, *self.optional_text)
        return tuple(column for column in dict.fromkeys(columns) if column not in typed)


class Check(NamedTuple):
    """A WHERE condition that finds bad rows, and the SQL expression that says why."""

    condition: str
    message_sql: str = "%s"
    condition_params: tuple = ()
    message_params: tuple = ()
    # False: layer_validate's first scan tests a cheaper condition that covers this one (_geometry_screen).
    screened: bool = True


def shown_sql(value: str) -> str:
    """Return SQL of the text ``value`` (SQL) as a report shows it (SHOWN_CHARACTERS)."""
    controls = "".join(f"\\u{ord(character):04x}" for character in CONTROL_PICTURES)  # E'' escapes: no control in SQL
    pictures = "".join(CONTROL_PICTURES.values())
    cut = f"CASE WHEN length({value}) > {SHOWN_CHARACTERS} THEN '… (' || length({value}) || ' characters)' ELSE '' END"
    return f"(translate(left({value}, {SHOWN_CHARACTERS}), E'{controls}', '{pictures}') || {cut})"


def feature_label(spec: LayerSpec, alias: str = "") -> str:
    """SQL of a staged feature's label in a report: ``#<fid> <key>/<key>``."""
    prefix = f"{alias}." if alias else ""
    keys = " || '/' || ".join(shown_sql(f"coalesce({prefix}{column}::text, '?')") for column in spec.key)
    return f"('#' || {prefix}fid || ' ' || {keys})"


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


def _field_checks(spec: LayerSpec, types: dict[str, str]) -> list[Check]:
    """The checks of the spec's columns; ``types`` (column → staged data type) picks cheaper SQL where a type allows."""
    checks = [
        Check(f"nullif(trim({column}::text), '') IS NULL", message_params=(f"{column} is missing",))
        for column in (*spec.key, *spec.required)
    ]
    for column, length in spec.max_lengths.items():
        checks.append(
            Check(
                f"length({column}::text) > %s",
                **_saying(
                    spec,
                    column,
                    (f"{column} is longer than {length} characters: ", ""),
                    f"{column} is longer than {length} characters",
                    f"length({column}::text)",
                ),
                condition_params=(length,),
            )
        )
    for column, (pattern, allowed) in spec.patterns.items():
        checks.append(
            Check(
                # an empty or blank value is missing, said above
                f"nullif(trim({column}::text), '') IS NOT NULL AND {column}::text !~ %s",
                **_saying(
                    spec, column, (f"{column} may hold only {allowed}: ", ""), f"{column} may hold only {allowed}"
                ),
                condition_params=(pattern,),
            )
        )
    for column, allowed in spec.choices.items():
        checks.append(
            Check(
                f"{column} IS NOT NULL AND NOT ({column}::text = ANY(%s))",
                **_saying(
                    spec,
                    column,
                    (f"{column} '", f"' is not one of {', '.join(allowed)}"),
                    f"{column} is not one of the choices",
                ),
                condition_params=(list(allowed),),
            )
        )
    for column in spec.numbers:
        checks.append(
            Check(
                f"{column} IS NOT NULL AND {column}::text !~ %s",
                **_saying(spec, column, (f"{column} is not a number: ", ""), f"{column} is not a number"),
                condition_params=(NUMBER_PATTERN,),
            )
        )
    for column, bounds in spec.ranges.items():
        below = ">" if bounds.low_open else ">="
        value = f"{column}::text::numeric"
        whole = f" AND {value} = trunc({value})" if bounds.whole else ""
        # CASE: the cast runs only on text that is a number; the check above names the others.
        checks.append(
            Check(
                f"CASE WHEN {column}::text ~ %s THEN NOT ({value} {below} %s AND {value} <= %s{whole}) ELSE false END",
                **_saying(
                    spec,
                    column,
                    (f"{column} must be {bounds.describe()}: ", ""),
                    f"{column} must be {bounds.describe()}",
                ),
                condition_params=(NUMBER_PATTERN, bounds.low, bounds.high),
            )
        )
    for column in (*spec.dates, *spec.optional_dates):
        saying = _saying(
            spec, column, (f"{column} is not a date (YYYY-MM-DD): ", ""), f"{column} is not a date (YYYY-MM-DD)"
        )
        if types.get(column) == "date":
            # Staged as a date (GeoPackage, Shapefile): every value is a calendar date, and its text
            # is YYYY-MM-DD exactly when its year is within DATE_PATTERN's (not BC, not infinity).
            checks.append(Check(f"NOT ({column} BETWEEN %s AND %s)", **saying, condition_params=DATE_RANGE))
        else:
            condition = f"nullif({column}::text, '') IS NOT NULL AND {_not_a_date(column)}"
            checks.append(Check(condition, **saying, condition_params=(DATE_PATTERN,)))
    return checks


def _saying(spec: LayerSpec, column: str, shown: tuple[str, str], withheld: str, withheld_sql: str = "") -> dict:
    """A Check's message for a problem with ``column``: ``shown`` around the value given, or for a withheld column
    the ``withheld`` words alone, with what ``withheld_sql`` tells (a length) if given."""
    if column not in spec.withheld:
        return {"message_sql": f"%s || {shown_sql(f'{column}::text')} || %s", "message_params": shown}
    if withheld_sql:
        words = (f"{withheld} (", " given; owner data is not shown)")
        return {"message_sql": f"%s || {withheld_sql} || %s", "message_params": words}
    return {"message_sql": "%s", "message_params": (f"{withheld} (owner data is not shown)",)}


def _not_a_date(column: str) -> str:
    """Return SQL that is true when ``column`` is not a calendar date written YYYY-MM-DD (2024-02-30 is not)."""
    text = f"{column}::text"
    # CASE: the date arithmetic runs only on text of the right shape, where it cannot fail.
    first_of_month = f"make_date(left({text}, 4)::int, substr({text}, 6, 2)::int, 1)"
    return (
        f"CASE WHEN {text} !~ %s THEN true "
        f"ELSE to_char({first_of_month} + (right({text}, 2)::int - 1), 'YYYY-MM-DD') <> {text} END"
    )


def _repaired(spec: LayerSpec, geom: str) -> str:
    """Return SQL of ``geom`` made valid, keeping only the parts of the layer's dimension (a single part alone)."""
    made = f"ST_CollectionExtract(ST_MakeValid({geom}), {REPAIR_KEEPS[spec.geom_type]})"
    single = "CASE WHEN ST_NumGeometries(x) = 1 THEN ST_GeometryN(x, 1) ELSE x END"
    return f"(SELECT {single} FROM (SELECT {made} AS x) AS m)"


def _invalid_geometry_check(spec: LayerSpec) -> Check:
    """Name the reason, and whether --repair would make the geometry valid and of the layer's type."""
    repair_outcome = (
        "(SELECT CASE WHEN ST_IsEmpty(r) THEN '; --repair cannot fix it: it would collapse to nothing'"
        " WHEN ST_GeometryType(r) = ANY(%s) THEN '; --repair would fix it'"
        " ELSE '; --repair cannot fix it: it would split into ' || ST_NumGeometries(r) || ' parts' END"
        f" FROM (SELECT {_repaired(spec, 's.geom')} AS r) AS repair)"
    )
    return Check(
        "geom IS NOT NULL AND NOT ST_IsValid(geom)",
        f"'invalid geometry: ' || ST_IsValidReason(geom) || {repair_outcome}",
        message_params=(list(ACCEPTED_GEOMETRY_TYPES[spec.geom_type]),),
        screened=False,
    )


def _geometry_checks(spec: LayerSpec) -> list[Check]:
    if not spec.geom_type:
        return []
    checks = [
        Check("geom IS NULL OR ST_IsEmpty(geom)", message_params=("the geometry is missing or empty",), screened=False),
        Check(
            "geom IS NOT NULL AND NOT (ST_GeometryType(geom) = ANY(%s))",
            "%s || ST_GeometryType(geom)",
            (list(ACCEPTED_GEOMETRY_TYPES[spec.geom_type]),),
            (f"expected a {spec.geom_type.lower()}, got ",),
            screened=False,
        ),
        _invalid_geometry_check(spec),
    ]
    if spec.check_extent:
        checks.append(
            Check(
                # ST_Covers(extent, geom), not ST_CoveredBy(geom, extent): with the constant extent
                # first PostGIS prepares it once and reuses it for every row (1 s instead of 17 s
                # at a million parcels); the other way round it tests each row from scratch.
                # An empty geometry is named once, as missing or empty, not also as lying outside. A
                # CASE: ST_Covers must only see valid geometries, and AND promises no order.
                "CASE WHEN geom IS NULL OR ST_IsEmpty(geom) OR NOT ST_IsValid(geom) THEN false"
                f" ELSE NOT ST_Covers({MUNICIPALITY_EXTENT}, geom) END",
                message_params=(OUTSIDE_EXTENT,),
                screened=False,
            )
        )
    return checks


def _geometry_screen(spec: LayerSpec) -> list[Check]:
    """One condition true for every row that a geometry check finds, which tests validity once, not twice.

    A CASE, because PostgreSQL promises no order for the operands of OR: ST_Covers must only ever see
    valid, non-empty geometries, as in the extent check itself.
    """
    if not spec.geom_type:
        return []
    outside = f"NOT ST_Covers({MUNICIPALITY_EXTENT}, geom)" if spec.check_extent else "false"
    condition = (
        "CASE WHEN geom IS NULL OR ST_IsEmpty(geom) OR NOT (ST_GeometryType(geom) = ANY(%s))"
        f" OR NOT ST_IsValid(geom) THEN true ELSE {outside} END"
    )
    return [Check(condition, condition_params=(list(ACCEPTED_GEOMETRY_TYPES[spec.geom_type]),))]


def _duplicate_keys(table: str, spec: LayerSpec) -> tuple[list, int]:
    columns = ", ".join(spec.key)
    duplicated = f'SELECT {columns} FROM {STAGING_SCHEMA}."{table}" GROUP BY {columns} HAVING count(*) > 1'
    check = Check(f"({columns}) IN ({duplicated})", message_params=("the key appears more than once in the delivery",))
    return problem_rows(table, feature_label(spec), check)


def staged_column_types(table: str) -> dict[str, str]:
    """Return the staged layer's columns and their data types (information_schema's names: text, date, …)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = %s AND table_name = %s",
            [STAGING_SCHEMA, table],
        )
        return dict(cursor.fetchall())


def columns_missing(table: str, spec: LayerSpec) -> list[str]:
    """Return the columns the spec needs that the staged layer lacks (not an optional text column: the source adds
    those, empty, before it validates)."""
    needed = dict.fromkeys(
        (*spec.key, *spec.required, *spec.max_lengths, *spec.patterns, *spec.choices, *spec.numbers, *spec.ranges)
        + (*spec.dates, *spec.optional_dates)
    )
    for column in spec.optional_text:
        needed.pop(column, None)
    present = staged_column_types(table)
    return [column for column in needed if column not in present]


def _layer_is_empty(table: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT NOT EXISTS (SELECT 1 FROM {STAGING_SCHEMA}."{table}")')
        return cursor.fetchone()[0]


def layer_validate(report: ImportReport, table: str, spec: LayerSpec) -> None:
    """Add every problem of the staged layer to the report."""
    if _layer_is_empty(table):
        report.add_problems(spec.layer, [("(layer)", "the layer has no features")], 1)
        return
    checks = (*_field_checks(spec, staged_column_types(table)), *_geometry_checks(spec))
    # Most deliveries have no problem at all: one scan that finds none spares a scan per check.
    if _any_row_matches(table, [*(check for check in checks if check.screened), *_geometry_screen(spec)]):
        label = feature_label(spec)
        for check in checks:
            rows, total = problem_rows(table, label, check)
            report.add_problems(spec.layer, rows, total)
    if spec.unique_key:
        rows, total = _duplicate_keys(table, spec)
        report.add_problems(spec.layer, rows, total)


def _any_row_matches(table: str, checks: list[Check]) -> bool:
    """Return whether a row of the staged layer meets any of the checks' conditions (one scan).

    A count, not EXISTS: PostgreSQL scans for a count with parallel workers, and a good delivery,
    the common case, has to be read to its end either way.
    """
    if not checks:
        return False
    conditions = " OR ".join(f"({check.condition})" for check in checks)
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT count(*) > 0 FROM {STAGING_SCHEMA}."{table}" AS s WHERE {conditions}',
            [parameter for check in checks for parameter in check.condition_params],
        )
        return cursor.fetchone()[0]


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
    rule_validate(report, table, spec, check)


def rule_validate(report: ImportReport, table: str, spec: LayerSpec, check: Check) -> None:
    """Report the rows of a staged layer (``s``) that ``check`` finds, each named by its key."""
    rows, total = problem_rows(table, feature_label(spec), check)
    report.add_problems(spec.layer, rows, total)


def layer_repair(report: ImportReport, table: str, spec: LayerSpec) -> None:
    """Repair in staging each invalid geometry that ST_MakeValid turns into one of the layer's type; note each.

    The others stay as delivered, for validation to report why --repair cannot fix them.
    """
    if not spec.geom_type or columns_missing(table, spec):
        return  # validation reports the missing columns
    staged = f'{STAGING_SCHEMA}."{table}"'
    sql = (
        f"WITH candidates AS (SELECT fid, {feature_label(spec)} AS feature, ST_IsValidReason(geom) AS reason,"
        f" {_repaired(spec, 'geom')} AS repaired FROM {staged} WHERE geom IS NOT NULL AND NOT ST_IsValid(geom)),"
        f" updated AS (UPDATE {staged} AS s SET geom = c.repaired FROM candidates AS c WHERE s.fid = c.fid"
        "  AND NOT ST_IsEmpty(c.repaired) AND ST_GeometryType(c.repaired) = ANY(%s) RETURNING c.*)"
        f" SELECT feature, reason, count(*) OVER () FROM updated ORDER BY fid LIMIT {PROBLEMS_LISTED_PER_CHECK}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [list(ACCEPTED_GEOMETRY_TYPES[spec.geom_type])])
        rows = cursor.fetchall()
    report.notes.extend(f"{spec.layer} {feature}: invalid geometry repaired ({reason})" for feature, reason, _ in rows)
    if rows and rows[0][2] > len(rows):
        report.notes.append(f"{spec.layer}: … and {rows[0][2] - len(rows)} more geometries repaired")
