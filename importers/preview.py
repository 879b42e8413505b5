"""The map of a delivery's changes (the dry run's picture): added green, changed orange, retired red.

Drawn with folium as one self-contained HTML file: Leaflet's script and style are inlined from the
npm package we serve, so the map opens offline, with no CDN. There is no background map: the
changes are drawn over the delivered blocks' outlines, which is what a data manager checks.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

import folium
from django.conf import settings

CHANGE_COLOURS = {"added": "#2e7d32", "changed": "#ef6c00", "retired": "#c62828"}
MAX_FEATURES = 20_000  # beyond this the file grows past what a browser draws comfortably
MUNICIPALITY_CENTRE = [29.35, 47.98]  # latitude first, as Leaflet takes it
NO_CHANGES_NOTE = "No changes in this delivery"
LEAFLET_DIST = Path(settings.BASE_DIR) / "frontend" / "node_modules" / "leaflet" / "dist"


def _data_uri(path: Path, media_type: str) -> str:
    return f"data:{media_type};base64,{base64.b64encode(path.read_bytes()).decode()}"


class _OfflineMap(folium.Map):
    """A folium map that loads Leaflet from inline data, and nothing else."""

    default_js = [("leaflet", _data_uri(LEAFLET_DIST / "leaflet.js", "text/javascript"))]
    default_css = [("leaflet_css", _data_uri(LEAFLET_DIST / "leaflet.css", "text/css"))]


def change_map_html(features: list[dict], *, title: str, context: list[dict] | None = None) -> str:
    """Return the HTML of a map of ``features`` (GeoJSON in EPSG:4326, ``properties.change`` set)."""
    shown = features[:MAX_FEATURES]
    figure = _OfflineMap(location=MUNICIPALITY_CENTRE, zoom_start=12, tiles=None, control_scale=True)
    if context:
        _context_layer(context).add_to(figure)
    # A delivery that changes nothing (the same file delivered again) keeps the municipality's view: folium's
    # tooltip reads its fields from the first feature, and refuses a layer that has none.
    if shown:
        layer = _changes_layer(shown).add_to(figure)
        figure.fit_bounds(layer.get_bounds())
    figure.get_root().html.add_child(folium.Element(_legend_html(features, title=title)))
    return figure.get_root().render()


def _context_layer(context: list[dict]) -> folium.GeoJson:
    return folium.GeoJson(
        {"type": "FeatureCollection", "features": context},
        name="Delivered blocks",
        style_function=lambda _: {"color": "#777777", "weight": 1, "fill": False, "dashArray": "4 4"},
    )


def _changes_layer(shown: list[dict]) -> folium.GeoJson:
    return folium.GeoJson(
        {"type": "FeatureCollection", "features": shown},
        name="Changes",
        # Retired parcels lie underneath, dashed, so that what replaced them shows on top.
        style_function=lambda feature: {
            "color": CHANGE_COLOURS[feature["properties"]["change"]],
            "fillColor": CHANGE_COLOURS[feature["properties"]["change"]],
            "weight": 2,
            "fillOpacity": 0.15 if feature["properties"]["change"] == "retired" else 0.4,
            "dashArray": "6 4" if feature["properties"]["change"] == "retired" else None,
        },
        tooltip=folium.GeoJsonTooltip(fields=["key", "change"], aliases=["Feature", "Change"]),
        # Points (landmarks) as circles: Leaflet's default marker is an image this file does not carry.
        marker=folium.CircleMarker(radius=7),
    )


def _legend_html(features: list[dict], *, title: str) -> str:
    """Return the box with the title, a swatch and count per kind of change, and what the map does not show."""
    counts = {change: sum(f["properties"]["change"] == change for f in features) for change in CHANGE_COLOURS}
    legend = "".join(
        f'<div><span style="display:inline-block;width:12px;height:12px;background:{colour};margin-right:6px"></span>'
        f"{change} {counts[change]}</div>"
        for change, colour in CHANGE_COLOURS.items()
    )
    if not features:
        note = f'<div id="change-note">{NO_CHANGES_NOTE}</div>'
    elif len(features) > MAX_FEATURES:
        note = f"<div>showing the first {MAX_FEATURES:,} of {len(features):,}</div>"
    else:
        note = ""
    return (
        '<div id="change-legend" style="position:absolute;top:10px;right:10px;z-index:1000;background:#fff;'
        'padding:8px 10px;font:13px sans-serif;border:1px solid #999">'
        f"<strong>{html.escape(title)}</strong>{legend}{note}</div>"
    )
