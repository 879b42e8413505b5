"""``python -m bench.peers.parcel_edit PARCEL_ID LAND_USE``: change one parcel's land use through
``parcel_update`` in a process of its own (as an editor's request would), then print the wall
clock time right after the transaction committed."""

from __future__ import annotations

import os
import sys
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "geoportal.settings")


def main(parcel_id: int, land_use: str) -> None:
    import django

    django.setup()
    from django.utils import timezone

    from layers.models import Parcel
    from layers.services.parcels import ParcelSurvey, parcel_update

    parcel = Parcel.objects.get(pk=parcel_id)
    survey = ParcelSurvey(
        geom=parcel.geom,
        land_use=land_use,
        surveyed_area_m2=parcel.surveyed_area_m2,
        survey_ref=parcel.survey_ref,
        survey_date=parcel.survey_date,
        status=parcel.status,
    )
    parcel_update(parcel=parcel, survey=survey, valid_from=max(timezone.localdate(), parcel.valid_from))
    print(f"{time.time():.6f}", flush=True)  # parcel_update is atomic: it has committed on return


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
