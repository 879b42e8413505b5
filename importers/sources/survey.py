"""Survey Department: areas, blocks and parcels, and owners (owners.csv).

The layers come as survey.gpkg, or one file per layer in one format (importers/sources/vector.py):
areas/blocks/parcels as .shp, .geojson, or .csv with WKT and a .prj. A Shapefile's DBF holds
survey_date as survey_dt (DBF field names have at most 10 characters). A .zip of any of these is
unpacked first (importers/archives.py).
"""

from __future__ import annotations

import secrets
from decimal import Decimal

from django.db import connection

from importers.base import register
from importers.bulk_load import bulk_load
from importers.checks import (
    NUMBER_PATTERN,
    Check,
    LayerSpec,
    Range,
    layer_validate,
    references_validate,
    rule_validate,
    shown_sql,
)
from importers.overlaps import overlaps_validate
from importers.report import PROBLEMS_LISTED_PER_CHECK
from importers.staging import STAGING_SCHEMA, stage_csv
from layers.models import LandUse, ParcelStatus
from layers.models.keys import AREA_CODE_ALLOWS, AREA_CODE_PATTERN, KEY_NUMBER_ALLOWS, KEY_NUMBER_PATTERN
from layers.services.changes import change_events_insert_sql

from .parcel_sync import (
    parcel_sync_apply,
    parcel_sync_classify,
    parcel_sync_features,
    parcels_kept,
    parcels_stored_as_delivered,
)
from .vector import VectorDeliverySource

# A parcel's key as a report line shows it (importers/checks.py shown_sql): owner rows' keys are not pattern-checked.
PARCEL_KEY_SHOWN = shown_sql("area_code || '/' || block_no || '/' || parcel_no")

# The lengths of the stored columns (layers/models): longer text is reported, not cut or crashed on.
NAME_LENGTHS = {"name_ar": 200, "name_en": 200}
KEY_PATTERNS = {  # layers/models/keys.py: what a key may hold, and why
    "area_code": (AREA_CODE_PATTERN, AREA_CODE_ALLOWS),
    "block_no": (KEY_NUMBER_PATTERN, KEY_NUMBER_ALLOWS),
    "parcel_no": (KEY_NUMBER_PATTERN, KEY_NUMBER_ALLOWS),
}
AREA = LayerSpec(
    layer="areas",
    key=("area_code",),
    geom_type="MULTIPOLYGON",
    required=("name_ar", "name_en", "gov_code"),
    max_lengths={"area_code": 40, **NAME_LENGTHS},
    patterns={"area_code": KEY_PATTERNS["area_code"]},
)
BLOCK = LayerSpec(
    layer="blocks",
    key=("area_code", "block_no"),
    geom_type="MULTIPOLYGON",
    max_lengths={"area_code": 40, "block_no": 10},
    patterns={"area_code": KEY_PATTERNS["area_code"], "block_no": KEY_PATTERNS["block_no"]},
)
PARCEL = LayerSpec(
    layer="parcels",
    key=("area_code", "block_no", "parcel_no"),
    geom_type="POLYGON",
    required=("land_use", "area_m2", "survey_ref", "survey_date", "status"),
    choices={"land_use": tuple(LandUse.values), "status": tuple(s for s in ParcelStatus.values if s != "retired")},
    numbers=("area_m2",),
    ranges={"area_m2": Range(Decimal(0), Decimal("9999999999.99"), low_open=True)},  # numeric(12,2), > 0
    dates=("survey_date",),
    max_lengths={"area_code": 40, "block_no": 10, "parcel_no": 16, "survey_ref": 40},
    patterns={
        "area_code": KEY_PATTERNS["area_code"],
        "block_no": KEY_PATTERNS["block_no"],
        "parcel_no": KEY_PATTERNS["parcel_no"],
    },
)
OWNER_COLUMNS = (
    "area_code",
    "block_no",
    "parcel_no",
    "owner_name_ar",
    "owner_name_en",
    "civil_id",
    "share_pct",
    "since",
)
OWNER = LayerSpec(
    # The registry sends each parcel's full owner list; civil_id is empty for state-owned land.
    layer="owners",
    key=("area_code", "block_no", "parcel_no"),
    unique_key=False,
    required=("owner_name_ar", "share_pct"),
    numbers=("share_pct",),
    ranges={"share_pct": Range(Decimal(0), Decimal(100), low_open=True)},
    optional_dates=("since",),
    max_lengths={"owner_name_ar": 200, "owner_name_en": 200, "civil_id": 12},
    withheld=("owner_name_ar", "owner_name_en", "civil_id", "share_pct", "since"),
)

# How far a parcel's owner shares may add up from 100: each share is rounded to two decimals.
SHARES_TOLERANCE = Decimal("0.05")


def owner_shares_validate(report, table: str) -> None:
    """Report each parcel whose owners' shares do not add up to 100, once, at its first owner row.

    One aggregation over the owner rows, whatever the number of bad parcels. Parcels with a share that
    is not a number are left to the number check, which names it.
    """
    share = "CASE WHEN share_pct::text ~ %(number)s THEN share_pct::text::numeric END"
    # Not their sum: the shares are withheld from the report (its readers need not see owner data), and for a parcel
    # of one owner the sum is that owner's share.
    sql = (
        f"SELECT '#' || fid || ' ' || {PARCEL_KEY_SHOWN},"
        " %(message)s, count(*) OVER ()"
        f" FROM (SELECT min(fid) AS fid, area_code, block_no, parcel_no, sum({share}) AS total"
        f' FROM {STAGING_SCHEMA}."{table}" GROUP BY area_code, block_no, parcel_no'
        " HAVING bool_and(share_pct::text ~ %(number)s)) AS parcels"
        f" WHERE abs(total - 100) > %(tolerance)s ORDER BY fid LIMIT {PROBLEMS_LISTED_PER_CHECK}"
    )
    parameters = {"number": NUMBER_PATTERN, "tolerance": SHARES_TOLERANCE}
    parameters["message"] = f"the owners' shares of the parcel do not add up to 100 (within {SHARES_TOLERANCE})"
    with connection.cursor() as cursor:
        cursor.execute(sql, parameters)
        rows = cursor.fetchall()
    total = rows[0][2] if rows else 0
    report.add_problems(OWNER.layer, [(feature, message) for feature, message, _total in rows], total)


# docs/deliveries.md: a parcel's area_m2 is within 0.5 % of its outline's area, and the parcel lies in its block.
AREA_TOLERANCE = Decimal("0.005")
OUTSIDE_BLOCK_M2 = 1.0  # more than this of a parcel outside its block's outline is no survey noise on a shared edge


def parcel_geometry_validate(report, parcels: str, blocks: str) -> None:
    """Report each parcel whose area_m2 disagrees with its outline, or that reaches out of its delivered block.

    Run on valid geometries only (the caller's other checks passed): ST_Area and ST_Covers need them. A block's
    outline is the same argument row after row, so PostGIS prepares it once per block.
    """
    outline = "ST_Area(geom)::numeric"
    rule_validate(
        report,
        parcels,
        PARCEL,
        Check(
            f"area_m2::text ~ %s AND abs(area_m2::text::numeric - {outline}) > %s * {outline}",
            f"%s || area_m2 || %s || round({outline}, 2) || %s",
            (NUMBER_PATTERN, AREA_TOLERANCE),
            ("area_m2 ", " differs from the outline's area, ", " m², by more than 0.5 %"),
        ),
    )
    block = (
        f'FROM {STAGING_SCHEMA}."{blocks}" x WHERE x.area_code = s.area_code AND x.block_no = s.block_no'
        " AND NOT ST_Covers(x.geom, s.geom)"
    )
    outside = "ST_Area(ST_Difference(s.geom, x.geom))"
    rule_validate(
        report,
        parcels,
        PARCEL,
        Check(
            f"EXISTS (SELECT 1 {block} AND {outside} > %s)",
            f"%s || (SELECT round(max({outside})::numeric, 1) {block}) || %s",
            (OUTSIDE_BLOCK_M2,),
            ("reaches out of its block by ", " m²"),
        ),
    )


# A first load fills these from empty (importers/bulk_load.py).
BULK_LOADED = ("layers_parcel", "layers_parcelversion", "layers_parcelowner")
STORED_AREA = "SELECT 1 FROM layers_area a WHERE a.code = s.area_code"
STORED_BLOCK = (
    "SELECT 1 FROM layers_block b JOIN layers_area a ON a.id = b.area_id"
    " WHERE a.code = s.area_code AND b.number = s.block_no"
)
# A delivered area or block that is stored with other names, governorate or outline (beyond survey noise): a
# corrected boundary is applied, not dropped as "already stored".
OUTLINE_TOLERANCE_M = 0.05
AREA_CHANGED = (
    "SELECT 1 FROM layers_area a JOIN layers_governorate g ON g.id = a.governorate_id WHERE a.code = s.area_code"
    " AND (a.name_ar IS DISTINCT FROM s.name_ar OR a.name_en IS DISTINCT FROM s.name_en OR g.code <> s.gov_code"
    f" OR ST_HausdorffDistance(a.geom, ST_Multi(s.geom)) > {OUTLINE_TOLERANCE_M})"
)
BLOCK_CHANGED = (
    "SELECT 1 FROM layers_block b JOIN layers_area a ON a.id = b.area_id"
    " WHERE a.code = s.area_code AND b.number = s.block_no"
    f" AND ST_HausdorffDistance(b.geom, ST_Multi(s.geom)) > {OUTLINE_TOLERANCE_M}"
)


@register
class SurveySource(VectorDeliverySource):
    name = "survey"
    search_layers = ("areas",)
    analyze_after = ("layers_area", "layers_block", "layers_parcel", "layers_parcelversion", "layers_parcelowner")
    file_name = "survey.gpkg"
    specs = (AREA, BLOCK, PARCEL)
    layer_files_accepted = True
    dbf_field_names = {"survey_dt": "survey_date"}

    def read(self) -> None:
        super().read()
        owners = self.file.parent / "owners.csv"
        if owners.exists():
            self.tables["owners"] = stage_csv(owners, OWNER_COLUMNS, table_prefix=self.name)

    def validate(self) -> None:
        super().validate()
        references_validate(
            self.report,
            self.tables["areas"],
            AREA,
            target="layers_governorate g",
            join_condition="g.code = s.gov_code",
            what="governorate (gov_code)",
        )
        references_validate(
            self.report,
            self.tables["blocks"],
            BLOCK,
            target=f"{self.staged('areas')} x",
            join_condition="x.area_code = s.area_code",
            what="area (area_code) of this delivery",
        )
        references_validate(
            self.report,
            self.tables["parcels"],
            PARCEL,
            target=f"{self.staged('blocks')} x",
            join_condition="x.area_code = s.area_code AND x.block_no = s.block_no",
            what="block of this delivery",
        )
        # Parcels may not overlap each other, nor the stored parcels of blocks this delivery keeps; the pairs of
        # parcels stored as delivered are stored already and left out.
        overlaps_validate(
            self.report,
            self.tables["parcels"],
            PARCEL,
            kept=parcels_kept(staged=self.staged("parcels")),
            unchanged=parcels_stored_as_delivered(staged=self.staged("parcels")),
        )
        if self.report.accepted:  # valid geometries and numbers only
            parcel_geometry_validate(self.report, self.tables["parcels"], self.tables["blocks"])
        if "owners" in self.tables:
            layer_validate(self.report, self.tables["owners"], OWNER)
            references_validate(
                self.report,
                self.tables["owners"],
                OWNER,
                target=f"{self.staged('parcels')} x",
                join_condition="x.area_code = s.area_code AND x.block_no = s.block_no AND x.parcel_no = s.parcel_no",
                what="parcel of this delivery",
            )
            owner_shares_validate(self.report, self.tables["owners"])

    def diff(self) -> None:
        for layer, stored, changed in (("areas", STORED_AREA, AREA_CHANGED), ("blocks", STORED_BLOCK, BLOCK_CHANGED)):
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT count(*) FILTER (WHERE NOT EXISTS ({stored})), count(*) FILTER (WHERE EXISTS ({changed})),"
                    f" count(*) FILTER (WHERE EXISTS ({stored}) AND NOT EXISTS ({changed}))"
                    f" FROM {self.staged(layer)} AS s"
                )
                added, changed_count, unchanged = cursor.fetchone()
            self.report.count(layer, "added", added)
            self.report.count(layer, "changed", changed_count)
            self.report.count(layer, "unchanged", unchanged)
        token = secrets.token_hex(4)
        self.tables["parcel_sync"] = f"{self.name}_parcel_sync_{token}"
        self.tables["parcel_lineage"] = f"{self.name}_parcel_lineage_{token}"
        parcel_sync_classify(
            staged=self.staged("parcels"),
            sync=self.staged("parcel_sync"),
            lineage=self.staged("parcel_lineage"),
            report=self.report,
        )

    def change_features(self) -> tuple[list[dict], list[dict]]:
        return parcel_sync_features(sync=self.staged("parcel_sync"), staged_blocks=self.staged("blocks"))

    def apply(self) -> None:
        self.insert_recording_changes(
            layer="areas",
            insert_sql="INSERT INTO layers_area (code, name_ar, name_en, governorate_id, geom) "
            "SELECT s.area_code, s.name_ar, s.name_en, g.id, ST_Multi(s.geom) "
            f"FROM {self.staged('areas')} s JOIN layers_governorate g ON g.code = s.gov_code "
            f"WHERE NOT EXISTS ({STORED_AREA})",
            key_sql="i.code",
        )
        self.insert_recording_changes(
            layer="blocks",
            insert_sql="INSERT INTO layers_block (area_id, number, geom) SELECT a.id, s.block_no, ST_Multi(s.geom) "
            f"FROM {self.staged('blocks')} s JOIN layers_area a ON a.code = s.area_code "
            f"WHERE NOT EXISTS ({STORED_BLOCK})",
            key_sql="a.code || '/' || i.number",
            joins="JOIN layers_area a ON a.id = i.area_id",
        )
        self._areas_and_blocks_update()
        added = self.report.counts.get("parcels", {}).get("added", 0)
        with bulk_load(BULK_LOADED, rows=added):
            parcel_sync_apply(sync=self.staged("parcel_sync"), lineage=self.staged("parcel_lineage"))
            if "owners" in self.tables:
                self._owners_insert()

    def _areas_and_blocks_update(self) -> None:
        """Apply the corrected names, governorates and outlines of stored areas and blocks, each a change event
        over where it was and where it is now."""
        event = change_events_insert_sql(
            layer="%s", key="u.key", change="'changed'", version="NULL",
            geometry_3857="ST_Collect(u.old_3857, u.geom_3857)", rows="updated u",
        )  # fmt: skip
        self.execute(
            f"WITH changing AS (SELECT a.id, a.geom_3857 AS old_3857 FROM layers_area a JOIN {self.staged('areas')} s"
            f" ON s.area_code = a.code WHERE EXISTS ({AREA_CHANGED})),"
            " updated AS (UPDATE layers_area a SET name_ar = s.name_ar, name_en = s.name_en, governorate_id = g.id,"
            f" geom = ST_Multi(s.geom) FROM {self.staged('areas')} s JOIN layers_governorate g ON g.code = s.gov_code,"
            " changing c WHERE a.id = c.id AND s.area_code = a.code RETURNING a.code AS key, a.geom_3857, c.old_3857) "
            + event,
            ["areas"],
        )
        self.execute(
            "WITH changing AS (SELECT b.id, b.geom_3857 AS old_3857 FROM layers_block b"
            f" JOIN layers_area a ON a.id = b.area_id JOIN {self.staged('blocks')} s"
            f" ON s.area_code = a.code AND s.block_no = b.number WHERE EXISTS ({BLOCK_CHANGED})),"
            f" updated AS (UPDATE layers_block b SET geom = ST_Multi(s.geom) FROM {self.staged('blocks')} s,"
            " layers_area a, changing c WHERE b.id = c.id AND a.id = b.area_id AND s.area_code = a.code"
            " AND s.block_no = b.number RETURNING a.code || '/' || b.number AS key, b.geom_3857, c.old_3857) " + event,
            ["blocks"],
        )

    def _owners_insert(self) -> None:
        # Owners are replaced per parcel of the delivery: the registry sends the full list.
        self.execute(
            "DELETE FROM layers_parcelowner o USING layers_parcel p, layers_block b, layers_area a, "
            f"{self.staged('owners')} s WHERE o.parcel_id = p.id AND p.block_id = b.id AND b.area_id = a.id "
            "AND a.code = s.area_code AND b.number = s.block_no AND p.number = s.parcel_no"
        )
        self.execute(
            "INSERT INTO layers_parcelowner (parcel_id, name_ar, name_en, civil_id, share_pct, since) "
            "SELECT p.id, s.owner_name_ar, coalesce(s.owner_name_en, ''), coalesce(s.civil_id, ''), "
            "s.share_pct::numeric, "
            f"nullif(s.since, '')::date FROM {self.staged('owners')} s "
            "JOIN layers_area a ON a.code = s.area_code "
            "JOIN layers_block b ON b.area_id = a.id AND b.number = s.block_no "
            "JOIN layers_parcel p ON p.block_id = b.id AND p.number = s.parcel_no AND p.status <> 'retired'"
        )
