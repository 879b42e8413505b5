"""MapServer 8 as the WFS peer: the current parcels from the same PostGIS table, with the columns our
WFS publishes (layers/wfs.py), in the storage CRS, as WFS 2.0 GML 3.2 (``/parcels?SERVICE=WFS&…``)."""

from __future__ import annotations

from pathlib import Path

from bench.peers.mapserver import mapserver_config_write, parcels_layer_opening

COLUMNS = "id, number, land_use, surveyed_area_m2, status, version, valid_from"
SRID = 31901


def wfs_mapfile_write(folder: Path, database: str) -> Path:
    mapfile = folder / "parcels-wfs.map"
    data = (
        f"geom from (SELECT {COLUMNS}, geom FROM layers_parcel WHERE status <> 'retired') AS parcels"
        f" using unique id using srid={SRID}"
    )
    mapfile.write_text(
        f"""MAP
  NAME "parcels"
  EXTENT 200000 2900000 800000 3500000
  UNITS METERS
  PROJECTION "init=epsg:{SRID}" END
  WEB
    METADATA
      "wfs_title" "Parcels" "wfs_srs" "EPSG:{SRID} EPSG:4326" "wfs_enable_request" "*"
      "wfs_onlineresource" "http://127.0.0.1/parcels?" "wfs_maxfeatures" "5000"
    END
  END
{parcels_layer_opening(database, data, SRID)}    METADATA
      "wfs_title" "parcels" "gml_include_items" "all" "gml_featureid" "id" "gml_types" "auto"
    END
  END
END
""",
        encoding="utf-8",
    )
    return mapserver_config_write(folder, mapfile)
