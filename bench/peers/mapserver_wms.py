"""MapServer 8 as the WMS peer: the tile peer's mapfile (the parcels from the same PostGIS table, drawn
as our stylesheet draws them, 8-bit PNG) with WMS 1.3.0 switched on, in EPSG:3857
(``/parcels?SERVICE=WMS&…``)."""

from __future__ import annotations

from pathlib import Path

from bench.peers.mapserver import mapfile_write

WEB = """  WEB
    METADATA
      "wms_title" "Parcels" "wms_srs" "EPSG:3857" "wms_enable_request" "*"
      "wms_onlineresource" "http://127.0.0.1/parcels?"
    END
  END
"""


def wms_mapfile_write(folder: Path, database: str) -> Path:
    return mapfile_write(folder, database, name="parcels-wms.map", web=WEB)
