"""One process, four GIS libraries: GeoDjango (Debian GDAL/PROJ 9.1), rasterio, pyproj, mapnik.

The mapnik wheel points PROJ_LIB at a folder without proj.db; geoportal/proj_data.py pins
PROJ_DATA/PROJ_LIB to the newest proj.db before any of them loads. If that broke, one of these
transforms would fail with "Cannot find proj.db" or disagree with the others.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

KUWAIT_TOWERS = (48.0035, 29.3897)

FOUR_LIBRARIES_SCRIPT = """
import json, os, geoportal
import django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "geoportal.settings")
django.setup()
import mapnik, pyproj, rasterio
from rasterio.warp import transform
from django.contrib.gis.geos import Point
lon, lat = 48.0035, 29.3897
geodjango = Point(lon, lat, srid=4326).transform(31901, clone=True)
rasterio_xy = transform("EPSG:4326", "EPSG:31901", [lon], [lat])
pyproj_xy = pyproj.Transformer.from_crs(4326, 31901, always_xy=True).transform(lon, lat)
mapnik_xy = mapnik.ProjTransform(mapnik.Projection("epsg:4326"), mapnik.Projection("epsg:31901")).forward(
    mapnik.Coord(lon, lat))
print(json.dumps({
    "proj_data": os.environ["PROJ_DATA"], "proj_lib": os.environ["PROJ_LIB"],
    "geodjango": [geodjango.x, geodjango.y], "rasterio": [rasterio_xy[0][0], rasterio_xy[1][0]],
    "pyproj": list(pyproj_xy), "mapnik": [mapnik_xy.x, mapnik_xy.y],
}))
"""


def test_four_libraries_agree_in_one_process():
    # A fresh interpreter, so that no earlier import in the test session hides the trap.
    environment = {key: value for key, value in os.environ.items() if key not in ("PROJ_DATA", "PROJ_LIB")}
    result = subprocess.run(
        [sys.executable, "-c", FOUR_LIBRARIES_SCRIPT],
        capture_output=True,
        text=True,
        check=False,
        env=environment,
        cwd=Path(__file__).resolve().parents[2],
    )

    assert result.returncode == 0, result.stderr
    assert "proj.db" not in result.stderr
    import json

    output = json.loads(result.stdout.strip().splitlines()[-1])
    assert output["proj_data"] == output["proj_lib"]
    assert (Path(output["proj_data"]) / "proj.db").is_file()
    reference = output["pyproj"]
    assert reference[0] == pytest.approx(500316.77, abs=0.05)
    for library in ("geodjango", "rasterio", "mapnik"):
        assert output[library][0] == pytest.approx(reference[0], abs=0.01), library
        assert output[library][1] == pytest.approx(reference[1], abs=0.01), library


def test_the_newest_proj_db_is_chosen():
    from geoportal.proj_data import newest_proj_data_dir, proj_db_candidates, proj_db_version

    chosen = newest_proj_data_dir()

    assert all(proj_db_version(chosen) >= proj_db_version(other) for other in proj_db_candidates())
    assert os.environ["PROJ_DATA"] == str(chosen)
