"""Assemble a parcel's file from its section rows (queries.py) for one role (access.py)."""

from __future__ import annotations

from django.utils import timezone

from geoportal.errors import NotFound

from .access import FileAccess, FileScope
from .queries import file_rows

VERIFY_NOTE = {
    "en": "This file is for information. Verify it with the municipality before any legal or building decision.",
    "ar": "هذا الملف للاطلاع فقط. يرجى التحقق من البيانات لدى البلدية قبل أي إجراء قانوني أو إنشائي.",
}
RESTRICTED = "restricted"


def parcel_file(*, parcel_id: int, access: FileAccess) -> dict:
    """Return the parcel's full municipal file, as far as ``access`` may see it."""
    sections = file_rows(parcel_id=parcel_id, access=access)
    if not sections["parcel"]:
        raise NotFound(f"no parcel with id {parcel_id}.", field="id")
    parcel = sections["parcel"][0]
    fronting = sections["streets"]
    document = {
        "id": parcel["id"],
        "identity": _identity(parcel, fronting),
        "measures": _measures(parcel, fronting),
        "geometry": parcel["geometry"],
        "label_point": parcel["label_point"]["coordinates"],
        "bbox": [round(value, 7) for value in parcel["bbox"]],
        "survey": _survey(parcel, sections["versions"], sections["lineage"]),
        "master_plan": _master_plan(parcel, sections["zones"]),
        "streets": [_street(street) for street in fronting],
        "nearest_landmarks": [{**row, "distance_m": round(row["distance_m"], 1)} for row in sections["landmarks"]],
        "neighbours": sections["neighbours"],
        "imagery": [{**capture, "coverage": round(capture["coverage"], 4)} for capture in sections["imagery"]],
        "permits": [_permit(permit) for permit in sections["permits"]],
        "building_file": _building_file(sections["documents"], access),
        "owners": sections["owners"] if access.allows(FileScope.OWNERS) else RESTRICTED,
        "access": {"role": access.role, "scopes": sorted(access.scopes)},
        "as_of": {"parcel_updated_at": parcel["updated_at"], "generated_at": timezone.now()},
        "verify": VERIFY_NOTE,
    }
    return document


def _identity(parcel: dict, fronting: list[dict]) -> dict:
    street = fronting[0] if fronting else None
    return {
        "governorate": {key: parcel[f"governorate_{key}"] for key in ("code", "name_ar", "name_en")},
        "area": {key: parcel[f"area_{key}"] for key in ("code", "name_ar", "name_en")},
        "block": parcel["block_no"],
        "parcel": parcel["number"],
        "status": parcel["status"],
        "land_use": parcel["land_use"],
        "address": {
            "area_en": parcel["area_name_en"],
            "area_ar": parcel["area_name_ar"],
            "block": parcel["block_no"],
            "street": _street_name(street) if street else None,
            "number": parcel["number"],
        },
    }


def _street_name(street: dict) -> dict:
    return {"number": street["number"], "name_en": street["name_en"], "name_ar": street["name_ar"]}


def _measures(parcel: dict, fronting: list[dict]) -> dict:
    area = parcel["area_m2"]
    main_frontage = fronting[0]["frontage_m"] if fronting else None
    return {
        "area_m2": round(area, 2),
        "surveyed_area_m2": parcel["surveyed_area_m2"],
        "perimeter_m": round(parcel["perimeter_m"], 2),
        "frontage_m": round(sum(street["frontage_m"] for street in fronting), 2),
        # Mean depth behind the main frontage: the area spread over the longest street front.
        "depth_m": round(area / main_frontage, 2) if main_frontage else None,
    }


def _survey(parcel: dict, versions: list[dict], lineage: list[dict]) -> dict:
    return {
        "current": {
            "version": parcel["version"],
            "valid_from": parcel["valid_from"],
            "retired_on": parcel["retired_on"],
            "survey_ref": parcel["survey_ref"],
            "survey_date": parcel["survey_date"],
        },
        "history": [{**version, "area_m2": round(version["area_m2"], 2)} for version in versions],
        "lineage": lineage,
    }


def _master_plan(parcel: dict, zones: list[dict]) -> dict:
    area = parcel["area_m2"]
    rows = []
    for zone in zones:
        if zone["share"] is None or zone["share"] < 0.0005:  # a shared edge, not a real overlap
            continue
        covered = area * zone["share"]
        by_ratio = covered * zone["floor_area_ratio"]
        by_coverage = covered * zone["site_coverage_pct"] / 100 * zone["max_floors"]
        rows.append(
            {
                **zone,
                "share": round(zone["share"], 4),
                "covered_m2": round(covered, 2),
                "allows": {
                    "max_footprint_m2": round(covered * zone["site_coverage_pct"] / 100, 2),
                    "buildable_floor_area_m2": round(min(by_ratio, by_coverage), 2),
                    "max_floors": zone["max_floors"],
                    "max_height_m": zone["max_height_m"],
                },
            }
        )
    return {
        "zones": rows,
        "buildable_floor_area_m2": round(sum(row["allows"]["buildable_floor_area_m2"] for row in rows), 2),
    }


def _street(street: dict) -> dict:
    return {**street, "frontage_m": round(street["frontage_m"], 2), "distance_m": round(street["distance_m"], 2)}


def _permit(permit: dict) -> dict:
    timeline = [{"status": "applied", "on": permit["applied_on"]}]
    if permit["issued_on"]:
        timeline.append({"status": "issued", "on": permit["issued_on"]})
    if permit["completed_on"]:
        timeline.append({"status": "completed", "on": permit["completed_on"]})
    elif permit["expires_on"]:
        past = permit["expires_on"] <= timezone.localdate()
        timeline.append({"status": "expired" if past else "expires", "on": permit["expires_on"]})
    if permit["status"] in {"rejected", "cancelled", "under_review"}:
        timeline.append({"status": permit["status"], "on": None})
    # The register may still say "issued" after the expiry date has passed: the file says what holds today, and
    # keeps the registered status beside it.
    expired = permit["status"] == "issued" and timeline[-1]["status"] == "expired"
    return {
        **permit,
        "status_now": "expired" if expired else permit["status"],
        "timeline": timeline,
        "applicant_ref": permit.get("applicant_ref", RESTRICTED),
    }


def _building_file(documents: list[dict], access: FileAccess) -> list[dict]:
    """The documents, their contents only for who may open them: a checksum is of the contents too (a templated
    form's could confirm a guess of what it says), so it is left out with them."""
    if access.allows(FileScope.DOCUMENT_CONTENTS):
        return [{**document, "contents": "available"} for document in documents]
    return [{**document, "contents": RESTRICTED, "sha256": RESTRICTED} for document in documents]
