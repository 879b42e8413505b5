"""Read a Mapbox Vector Tile with GDAL's MVT driver (a real client, not our code)."""

from __future__ import annotations

from pathlib import Path

from django.contrib.gis.gdal import DataSource


def mvt_features(body: bytes, folder: Path) -> list[dict]:
    path = folder / "tile.mvt"
    path.write_bytes(body)
    source = DataSource(str(path))
    features = []
    for layer in source:
        for feature in layer:
            features.append({"layer": layer.name, **{name: feature.get(name) for name in layer.fields}})
    return features
