"""The second survey delivery of the re-sync benchmark: the demo municipality's survey.gpkg again,
every block, with 1 % of its parcels changed the way a re-survey changes them (deterministic with
the seed), built once and kept under var/bench-resync/.

Of every 10,000 parcels of the first delivery:

- 6,000 change an attribute: a third each their land use, their status, or their survey reference
  (and survey date: surveyed again, same result);
- 3,000 change their geometry: 1,500 pairs of neighbours in a row whose shared edge moves by
  0.5–2 m (one grows, the other shrinks by the same strip; new survey reference, date and area);
- 1,000 are retired: 400 cancelled outright, 200 split in two (400 new parcels ``<n>A``, ``<n>B``),
  and 200 pairs of neighbours merged into one (200 new parcels ``<a>-<b>``).

The file is a copy of the first survey.gpkg (areas and blocks untouched, the untouched parcels
byte for byte), with the 10,000 parcels deleted (``ogrinfo -sql DELETE``) and their replacements
appended with ``ogr2ogr -append`` from a GeoJSON Sequence file, as fixtures/demo writes its layers.
"""

from __future__ import annotations

import datetime
import json
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import shapely

from bench.harness import BENCH_DIR

WORK_DIR = BENCH_DIR.parent / "var" / "bench-resync"
KTM_EPSG = 31901
# Shares of all parcels; together 1 %.
ATTRIBUTE_SHARE = 0.006
GEOMETRY_PAIR_SHARE = 0.0015  # pairs: 0.3 % of the parcels
SPLIT_SHARE = 0.0002
MERGE_PAIR_SHARE = 0.0002  # pairs: 0.04 % of the parcels
CANCEL_SHARE = 0.0004
EDGE_MOVE_M = (0.5, 2.0)
LAND_USES = (
    "private_housing", "investment_housing", "commercial", "industrial", "government", "mosque", "school", "park",
    "utility",
)  # fmt: skip
STATUSES = ("registered", "under_survey", "disputed")
RESURVEY_FIRST_DAY = datetime.date(2026, 9, 1)  # re-survey dates fall within 60 days from here
COLUMNS = ("area_code", "block_no", "parcel_no", "land_use", "area_m2", "survey_ref", "survey_date", "status")


@dataclass
class Parcels:
    """The parcels layer of a survey.gpkg, in fid order."""

    fid: np.ndarray
    rows: list[tuple]  # the COLUMNS of each parcel
    geoms: np.ndarray  # shapely polygons


@dataclass
class Edits:
    deleted: list[int] = field(default_factory=list)  # fids of the first delivery to drop
    features: list[tuple[dict, list]] = field(default_factory=list)  # (properties, ring) to append
    counts: dict[str, int] = field(default_factory=dict)


def _wkb(blob: bytes) -> bytes:
    """The WKB of a GeoPackage geometry blob (skip its header and envelope)."""
    envelope = (blob[3] >> 1) & 0x7
    return blob[8 + {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}[envelope] :]


def parcels_read(gpkg: Path) -> Parcels:
    connection = sqlite3.connect(f"file:{gpkg}?mode=ro", uri=True)
    try:
        rows = connection.execute(f"SELECT fid, geom, {', '.join(COLUMNS)} FROM parcels ORDER BY fid").fetchall()
    finally:
        connection.close()
    geoms = shapely.from_wkb([_wkb(row[1]) for row in rows])
    return Parcels(np.array([row[0] for row in rows]), [row[2:] for row in rows], geoms)


def _ring(geom) -> list[tuple[float, float]]:
    """The exterior ring without its closing point."""
    return [tuple(point) for point in np.asarray(geom.exterior.coords)[:-1].tolist()]


def _shared(a: list, b: list) -> list:
    return [point for point in a if point in set(b)]


def _neighbour_other(ring: list, point: tuple, partner: tuple) -> tuple | None:
    """The neighbour of ``point`` in ``ring`` that is not ``partner``."""
    index = ring.index(point)
    before, after = ring[index - 1], ring[(index + 1) % len(ring)]
    if before == partner:
        return after
    if after == partner:
        return before
    return None


def _moved_pair(a, b, distance: float):
    """Move the edge two neighbours share by ``distance`` into ``b``; return the new polygons, or None."""
    ring_a, ring_b = _ring(a), _ring(b)
    shared = _shared(ring_a, ring_b)
    if len(shared) != 2:
        return None
    moves = {}
    for point, partner in ((shared[0], shared[1]), (shared[1], shared[0])):
        far_a, far_b = _neighbour_other(ring_a, point, partner), _neighbour_other(ring_b, point, partner)
        if far_a is None or far_b is None:
            return None
        along = np.subtract(point, far_a)
        into_b = np.subtract(far_b, point)
        length_a, length_b = np.hypot(*along), np.hypot(*into_b)
        # The shared corner slides along the row line, which must run straight on into b.
        if length_b < 2.5 * distance or abs(np.cross(along, into_b)) > 0.01 * length_a * length_b:
            return None
        moved = np.asarray(point) + distance * along / length_a
        moves[point] = (round(float(moved[0]), 3), round(float(moved[1]), 3))
    new_a = shapely.Polygon([moves.get(point, point) for point in ring_a])
    new_b = shapely.Polygon([moves.get(point, point) for point in ring_b])
    if not (new_a.is_valid and new_b.is_valid):
        return None
    return new_a, new_b


def _split(geom):
    """Cut a four-cornered parcel across its longer sides, midpoint to midpoint; or None."""
    ring = _ring(geom)
    if len(ring) != 4:
        return None
    p = [np.asarray(point) for point in ring]
    sides = [np.hypot(*(p[(i + 1) % 4] - p[i])) for i in range(4)]
    first = 0 if sides[0] + sides[2] >= sides[1] + sides[3] else 1
    q = p[first:] + p[:first]  # q0-q1 and q2-q3 are the sides cut

    def middle(u, v):
        return tuple(round(float(c), 3) for c in (u + v) / 2)

    m01, m23 = middle(q[0], q[1]), middle(q[2], q[3])
    halves = [
        shapely.Polygon([tuple(q[0]), m01, m23, tuple(q[3])]),
        shapely.Polygon([m01, tuple(q[1]), tuple(q[2]), m23]),
    ]
    return halves if all(half.is_valid for half in halves) else None


def _properties(row: tuple, **changes) -> dict:
    properties = dict(zip(COLUMNS, row, strict=True))
    properties.update(changes)
    return properties


def _coordinates(geom) -> list:
    return [[round(x, 3), round(y, 3)] for x, y in np.asarray(geom.exterior.coords).tolist()]


def edits_choose(parcels: Parcels, seed: int) -> Edits:
    """Pick the 1 % of changed parcels and spell out their replacements (module docstring)."""
    count = len(parcels.rows)
    rng = np.random.default_rng([seed, 20261123])
    wanted = {
        "attribute": round(ATTRIBUTE_SHARE * count),
        "geometry_pairs": round(GEOMETRY_PAIR_SHARE * count),
        "merge_pairs": round(MERGE_PAIR_SHARE * count),
        "splits": round(SPLIT_SHARE * count),
        "cancelled": round(CANCEL_SHARE * count),
    }
    used = np.zeros(count, dtype=bool)
    edits = Edits()
    serial = iter(range(1, 10**7))

    def resurvey() -> dict:
        day = RESURVEY_FIRST_DAY + datetime.timedelta(days=int(rng.integers(0, 60)))
        return {"survey_ref": f"SV-2026-R{next(serial):06d}", "survey_date": day.isoformat()}

    def same_block(i: int, j: int) -> bool:
        return parcels.rows[i][:2] == parcels.rows[j][:2]

    def pairs(how_many: int, accept) -> list[tuple[int, int, object]]:
        found = []
        for i in rng.permutation(count - 1).tolist():
            if len(found) == how_many:
                break
            if used[i] or used[i + 1] or not same_block(i, i + 1):
                continue
            result = accept(i, i + 1)
            if result is not None:
                used[i] = used[i + 1] = True
                found.append((i, i + 1, result))
        return found

    def singles(how_many: int, accept=lambda i: True) -> list[tuple[int, object]]:
        found = []
        for i in rng.permutation(count).tolist():
            if len(found) == how_many:
                break
            if not used[i]:
                result = accept(i)
                if result is not None and result is not False:
                    used[i] = True
                    found.append((i, result))
        return found

    # Geometry: the edge two neighbours share moves by 0.5–2 m.
    for i, j, (new_i, new_j) in pairs(
        wanted["geometry_pairs"],
        lambda i, j: _moved_pair(parcels.geoms[i], parcels.geoms[j], float(rng.uniform(*EDGE_MOVE_M))),
    ):
        survey = resurvey()
        for index, geom in ((i, new_i), (j, new_j)):
            properties = _properties(parcels.rows[index], area_m2=round(geom.area, 2), **survey)
            edits.features.append((properties, _coordinates(geom)))
            edits.deleted.append(int(parcels.fid[index]))

    def union(i: int, j: int):
        if len(_shared(_ring(parcels.geoms[i]), _ring(parcels.geoms[j]))) != 2:
            return None
        merged = shapely.union(parcels.geoms[i], parcels.geoms[j])
        return merged if merged.geom_type == "Polygon" and merged.is_valid else None

    # Merges: two neighbours become one parcel <a>-<b>.
    for i, j, merged in pairs(wanted["merge_pairs"], union):
        row_i, row_j = parcels.rows[i], parcels.rows[j]
        properties = _properties(
            row_i, parcel_no=f"{row_i[2]}-{row_j[2]}", area_m2=round(merged.area, 2), status="registered", **resurvey()
        )
        edits.features.append((properties, _coordinates(merged)))
        edits.deleted += [int(parcels.fid[i]), int(parcels.fid[j])]

    # Splits: one parcel becomes <n>A and <n>B.
    for i, halves in singles(wanted["splits"], lambda i: _split(parcels.geoms[i])):
        survey = resurvey()
        for suffix, half in zip("AB", halves, strict=True):
            row = parcels.rows[i]
            properties = _properties(
                row, parcel_no=f"{row[2]}{suffix}", area_m2=round(half.area, 2), status="registered", **survey
            )
            edits.features.append((properties, _coordinates(half)))
        edits.deleted.append(int(parcels.fid[i]))

    # Cancelled: the parcel is no longer in its block.
    for i, _ in singles(wanted["cancelled"]):
        edits.deleted.append(int(parcels.fid[i]))

    # Attributes: land use, status, or survey reference and date.
    for n, (i, _) in enumerate(singles(wanted["attribute"])):
        row = parcels.rows[i]
        kind = n % 3
        if kind == 0:
            changes = {"land_use": str(rng.choice([use for use in LAND_USES if use != row[3]]))}
        elif kind == 1:
            changes = {"status": str(rng.choice([status for status in STATUSES if status != row[7]]))}
        else:
            changes = resurvey()
        edits.features.append((_properties(row, **changes), _coordinates(parcels.geoms[i])))
        edits.deleted.append(int(parcels.fid[i]))

    edits.counts = {
        "parcels": count,
        "attribute_changes": wanted["attribute"],
        "geometry_changes": 2 * wanted["geometry_pairs"],
        "cancelled": wanted["cancelled"],
        "split_parents": wanted["splits"],
        "merged_parents": 2 * wanted["merge_pairs"],
        "changed_parcels": len(edits.deleted),
        "expected": {
            "changed": wanted["attribute"] + 2 * wanted["geometry_pairs"],
            "added": 2 * wanted["splits"] + wanted["merge_pairs"],
            "retired": wanted["cancelled"] + wanted["splits"] + 2 * wanted["merge_pairs"],
            "unchanged": count - len(edits.deleted),
            "splits": wanted["splits"],
            "merges": wanted["merge_pairs"],
        },
    }
    return edits


def _run(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:3])}… failed: {result.stderr.strip()[:800]}")


def second_delivery_write(first: Path, target: Path, edits: Edits) -> None:
    """Copy ``first`` (a survey.gpkg) to ``target``, drop the edited parcels, append their replacements."""
    work = target.parent / "work"
    work.mkdir(parents=True, exist_ok=True)
    partial = work / "survey.gpkg"
    shutil.copyfile(first, partial)
    fids = work / "delete.sql"
    fids.write_text(f"DELETE FROM parcels WHERE fid IN ({','.join(map(str, sorted(edits.deleted)))})", "utf-8")
    _run(["ogrinfo", "-q", str(partial), "-sql", f"@{fids}"])
    features = work / "parcels-edited.geojsonl"
    with features.open("w", encoding="utf-8") as out:
        for properties, ring in edits.features:
            geometry = {"type": "Polygon", "coordinates": [ring]}
            out.write(json.dumps({"type": "Feature", "properties": properties, "geometry": geometry}) + "\n")
    _run([
        "ogr2ogr", "-append", "-update", "-f", "GPKG", str(partial), str(features), "-nln", "parcels",
        "-nlt", "POLYGON", "-a_srs", f"EPSG:{KTM_EPSG}",
    ])  # fmt: skip
    target.parent.mkdir(parents=True, exist_ok=True)
    partial.replace(target)
    shutil.rmtree(work)


def resync_delivery_ensure(first_delivery: Path, parcels: int, seed: int) -> tuple[Path, dict]:
    """Return the folder of the second survey delivery (built once) and what it changes."""
    folder = WORK_DIR / f"delivery-{parcels}-{seed}" / "survey"
    manifest = folder.parent / "edits.json"
    if manifest.exists() and (folder / "survey.gpkg").exists():
        return folder, json.loads(manifest.read_text(encoding="utf-8"))
    first = first_delivery / "survey" / "survey.gpkg"
    edits = edits_choose(parcels_read(first), seed)
    second_delivery_write(first, folder / "survey.gpkg", edits)
    content = {"first_delivery": str(first), **edits.counts}
    manifest.write_text(json.dumps(content, indent=1) + "\n", encoding="utf-8")  # last: the build is complete
    return folder, content
