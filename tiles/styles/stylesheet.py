"""Compile a layer's stylesheet (``<layer>.xml`` in this folder) into the XML Mapnik loads.

The files are plain Mapnik XML with four conveniences, resolved here so that they hold only
cartography:

- ``minzoom``/``maxzoom`` on a ``Rule`` or ``Layer`` (XYZ zoom levels, both inclusive) become
  scale denominators; and every ``Layer`` of a layer's file is drawn from that layer's first zoom
  (``tiles/layers.py``) on, as its tiles are, so that a WMS map at a smaller scale leaves it out as
  the WMS capabilities say (a national map of the million parcels' outlines was a brown blob of 3.6 s);
- ``<Datasource base="parcels"/>`` names a query of ``sources.py``; the PostGIS connection is
  injected as a Mapnik datasource template;
- ``fontset-name="sans"`` or ``"sans-bold"`` names a fontset defined here;
- a ``StyleName`` that the file does not define comes from the file that does, so the basemap
  composes the layers' own styles. Style names are unique across the folder.

Every Map and Layer is in Web Mercator.
"""

from __future__ import annotations

import copy
import functools
import xml.etree.ElementTree as ET  # noqa: S405 -- we parse only our own files, never user input
from collections.abc import Sequence
from pathlib import Path

from tiles.grid import WORLD_HALF
from tiles.layers import LAYERS

from .scales import PIXEL_M, largest_scale_denominator, scale_denominator
from .sources import SOURCES

STYLES_DIR = Path(__file__).resolve().parent
WEB_MERCATOR = "epsg:3857"
METRES_PER_DEGREE = 2 * WORLD_HALF / 360  # how Mapnik measures a geographic map's scale (6378137 × 2π / 360)

# Mapnik falls back through a fontset glyph by glyph, so Latin and Arabic runs of one label each
# get their own face; HarfBuzz shapes the Arabic (joined letters) and ICU orders it right-to-left.
FONT_DIR = Path("/usr/share/fonts/truetype/noto")  # Debian's fonts-noto-core, installed by ops/bootstrap.sh
FONTSETS: dict[str, tuple[str, ...]] = {
    "sans": ("Noto Sans Regular", "Noto Sans Arabic Regular"),
    "sans-bold": ("Noto Sans Bold", "Noto Sans Arabic Bold"),
}
# The "sans" faces as files, for the text Pillow draws (the WMS's legends and error images): Pillow has no fallback
# from face to face, so the Arabic is drawn in its own face, shaped by raqm.
FONT_FILES = {"en": FONT_DIR / "NotoSans-Regular.ttf", "ar": FONT_DIR / "NotoSansArabic-Regular.ttf"}

_DATASOURCE_DEFAULTS = {
    "type": "postgis",
    "geometry_field": "geom_3857",
    "srid": "3857",
    # A fixed extent spares the plug-in an ST_Extent query over the table when the map loads.
    "extent": f"{-WORLD_HALF},{-WORLD_HALF},{WORLD_HALF},{WORLD_HALF}",
    "estimate_extent": "false",
}


def map_scale_denominator(*, width: float, width_px: int, geographic: bool) -> float:
    """Return the scale denominator Mapnik gives a map ``width`` map units wide (metres; degrees when
    ``geographic``) drawn on ``width_px`` pixels, which its scale rules are checked against."""
    metres_per_pixel = width / width_px * (METRES_PER_DEGREE if geographic else 1.0)
    return metres_per_pixel / PIXEL_M


def stylesheet_xml(layer: str, *, database: dict[str, str]) -> str:
    """Return the Mapnik XML for ``layer``, with its data sources connected to ``database``.

    ``database`` holds Mapnik PostGIS parameters: host, port, dbname, user, password.
    """
    return _stylesheet(_layer_part(layer), database)


# Mapnik's GeoJSON plug-in refuses a collection without a feature; the legend replaces this one before it draws.
_SAMPLE_PLACEHOLDER = (
    '{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {},'
    ' "geometry": {"type": "Point", "coordinates": [-1e7, -1e7]}}]}'
)


def sample_stylesheet_xml(layer: str) -> str:
    """Return the Mapnik XML for ``layer`` with every Layer reading an inline GeoJSON source instead of the
    database: the legend (tiles/legend.py) gives each Layer a sample feature of its own."""
    root = _layer_part(layer)
    for element in root.iter("Layer"):
        for datasource in element.findall("Datasource"):
            element.remove(datasource)
        datasource = ET.SubElement(element, "Datasource")
        ET.SubElement(datasource, "Parameter", name="type").text = "geojson"
        ET.SubElement(datasource, "Parameter", name="inline").text = _SAMPLE_PLACEHOLDER
    return _stylesheet(root, {})


def stylesheets_combined_xml(layers: Sequence[str], *, database: dict[str, str]) -> str:
    """Return one Mapnik XML that draws ``layers`` (each once) bottom first, as a WMS map of several layers.

    One Map, so one label placement for all of them: a street name and a landmark's do not overlap,
    as they would if each layer were drawn apart. The first layer's background, if any, is the map's.
    The layers of names, numbers and codes (``…-names``, ``…-numbers``, ``…-codes``) come after every other: over
    ``basemap,parcels`` the basemap's names stayed under the parcels' fill, over ``zoning,parcels`` the zones' codes.
    They are placed top layer first, each file's in its own order, so that the labels of the layer asked for on top
    win where labels collide: placed after the basemap's names, a zone's code lost to a street's name in
    ``basemap,zoning``. The basemap draws the other layers' labels too (all but the zones' codes), with their styles:
    asked for with one of them, above or below it, those labels are drawn once, over the zooms of both, at the
    basemap's place among the layers' labels and in its order (a landmark's name wins over the parcels' numbers, as on
    the basemap's tiles; in ``basemap,zoning,parcels`` the zones' codes win over the parcels' numbers). Two copies of
    the landmarks' names drew each name twice, the second under the first, and each ran its query.
    """
    if len(set(layers)) != len(layers):
        raise ValueError("each layer at most once: its styles would be defined twice.")
    root = ET.Element("Map")
    labels_by_layer = []
    for index, layer in enumerate(layers):
        part = _layer_part(layer)
        if index == 0 and part.get("background-color"):
            root.set("background-color", part.get("background-color"))
        own_styles = {style.get("name") for style in part.iter("Style")}
        labels = [element for element in part.findall("Layer") if _is_label_layer(element)]
        for element in labels:
            part.remove(element)
        labels_by_layer.append(
            [(element, any(name.text not in own_styles for name in element.iter("StyleName"))) for element in labels]
        )
        root.extend(part)
    root.extend(_label_layers_merged([label for labels in reversed(labels_by_layer) for label in labels]))
    return _stylesheet(root, database)


def _label_layers_merged(labels: list[tuple[ET.Element, bool]]) -> list[ET.Element]:
    """``labels`` in their order, each with whether its file draws it with another file's style (the basemap does),
    and copies that draw the same (but for their names and zooms) merged into one where their zooms meet: it covers
    the zooms of both, at the place of the copy with the borrowed style, else of the first."""
    merged: list[tuple[ET.Element, bool]] = []
    for element, borrowed in labels:
        drawing = _drawing(element)
        index = next(
            (at for at, (kept, _) in enumerate(merged) if _drawing(kept) == drawing and _zooms_meet(kept, element)),
            None,
        )
        if index is None:
            merged.append((element, borrowed))
            continue
        kept, kept_borrowed = merged[index]
        if borrowed and not kept_borrowed:
            del merged[index]
            merged.append((element, borrowed))
            kept, element = element, kept
        _zooms_joined(kept, element)
    return [element for element, _ in merged]


def _drawing(layer: ET.Element) -> tuple:
    """What a Layer draws, whatever its name and zooms: its other attributes and its children, all the way down (the
    files' indentation left out)."""
    attributes = sorted(
        (key, value) for key, value in layer.attrib.items() if key not in ("name", "minzoom", "maxzoom")
    )
    return attributes, [_canonical(child) for child in layer]


def _canonical(element: ET.Element) -> tuple:
    return element.tag, sorted(element.attrib.items()), (element.text or "").strip(), [_canonical(c) for c in element]


def _zooms_meet(first: ET.Element, second: ET.Element) -> bool:
    """Whether two Layers' zoom ranges (minzoom set on each, maxzoom open when absent) overlap or touch."""

    def top(layer: ET.Element) -> float:
        return float(layer.get("maxzoom", "inf"))

    return int(first.get("minzoom")) <= top(second) + 1 and int(second.get("minzoom")) <= top(first) + 1


def _zooms_joined(kept: ET.Element, other: ET.Element) -> None:
    """Widen ``kept``'s zooms to cover ``other``'s too."""
    kept.set("minzoom", str(min(int(kept.get("minzoom")), int(other.get("minzoom")))))
    if kept.get("maxzoom") is None or other.get("maxzoom") is None:
        kept.attrib.pop("maxzoom", None)
    else:
        kept.set("maxzoom", str(max(int(kept.get("maxzoom")), int(other.get("maxzoom")))))


def _is_label_layer(layer: ET.Element) -> bool:
    return is_label_layer_name(layer.get("name", ""))


def is_label_layer_name(name: str) -> bool:
    """Whether a stylesheet's Layer of this name draws only names, numbers or codes (last in a map of several
    layers; left out of a legend's swatches)."""
    return name.endswith(("-names", "-numbers", "-codes"))


def _stylesheet(root: ET.Element, database: dict[str, str]) -> str:
    _styles_borrow(root)
    _zooms_to_scale_denominators(root)
    root.set("srs", WEB_MERCATOR)
    for layer_element in root.iter("Layer"):
        layer_element.set("srs", WEB_MERCATOR)
    # Mapnik resolves fontsets and datasource templates while it parses, so they come first.
    preamble = [*_fontsets(), *_datasource_templates(root, database)]
    root[:0] = preamble
    return ET.tostring(root, encoding="unicode")


def _layer_part(layer: str) -> ET.Element:
    """Return the root of ``layer``'s file, each of its Layers drawn from the layer's first zoom on at the soonest."""
    root = _parse(STYLES_DIR / f"{layer}.xml")
    first_zoom = LAYERS[layer].min_zoom
    for element in root.iter("Layer"):
        element.set("minzoom", str(max(first_zoom, int(element.get("minzoom", first_zoom)))))
    return root


def _parse(path: Path) -> ET.Element:
    return ET.parse(path).getroot()  # noqa: S314 -- our own stylesheet files


@functools.cache
def _styles_by_name() -> dict[str, ET.Element]:
    """Index the Style elements of every stylesheet in the folder by name."""
    styles: dict[str, ET.Element] = {}
    for path in sorted(STYLES_DIR.glob("*.xml")):
        for style in _parse(path).iter("Style"):
            name = style.get("name", "")
            if name in styles:
                raise ValueError(f"{path.name}: style '{name}' is already defined in another stylesheet.")
            styles[name] = style
    return styles


def _styles_borrow(root: ET.Element) -> None:
    """Copy in the styles that the layers name but this file does not define."""
    defined = {style.get("name") for style in root.iter("Style")}
    wanted = [name.text for name in root.iter("StyleName") if name.text not in defined]
    for name in dict.fromkeys(wanted):
        try:
            root.append(copy.deepcopy(_styles_by_name()[name]))
        except KeyError:
            raise ValueError(f"style '{name}' is not defined in any stylesheet.") from None


def _zooms_to_scale_denominators(root: ET.Element) -> None:
    """Turn inclusive zoom ranges into Mapnik's [min, max) scale denominator bounds.

    Bounds sit half a zoom level away so that float rounding never flips a rule at its edge zoom.
    """
    for element in list(root.iter()):  # a list: the loop inserts elements
        minzoom = element.attrib.pop("minzoom", None)
        maxzoom = element.attrib.pop("maxzoom", None)
        if element.tag == "Rule":
            # Mapnik expects the two filters before the rule's symbolizers.
            if maxzoom is not None:
                _prepend(element, "MinScaleDenominator", scale_denominator(int(maxzoom) + 0.5))
            if minzoom is not None:
                _prepend(element, "MaxScaleDenominator", largest_scale_denominator(int(minzoom)))
        elif element.tag == "Layer":
            if maxzoom is not None:
                element.set("minimum-scale-denominator", _number(scale_denominator(int(maxzoom) + 0.5)))
            if minzoom is not None:
                element.set("maximum-scale-denominator", _number(largest_scale_denominator(int(minzoom))))
        elif minzoom is not None or maxzoom is not None:
            raise ValueError(f"minzoom/maxzoom apply to Rule and Layer, not to {element.tag}.")


def _prepend(parent: ET.Element, tag: str, value: float) -> None:
    child = ET.Element(tag)
    child.text = _number(value)
    parent.insert(0, child)


def _number(value: float) -> str:
    return f"{value:.3f}"


def _fontsets() -> list[ET.Element]:
    fontsets = []
    for name, faces in FONTSETS.items():
        fontset = ET.Element("FontSet", name=name)
        for face in faces:
            ET.SubElement(fontset, "Font", {"face-name": face})
        fontsets.append(fontset)
    return fontsets


def _datasource_templates(root: ET.Element, database: dict[str, str]) -> list[ET.Element]:
    """Define one connected datasource template per source the layers name."""
    names = dict.fromkeys(ds.get("base") for ds in root.iter("Datasource") if ds.get("base"))
    templates = []
    for name in names:
        if name not in SOURCES:
            raise ValueError(f"datasource base '{name}' is not a source of sources.py.")
        parameters = {**_DATASOURCE_DEFAULTS, **database, "table": f"({SOURCES[name]}) AS {name}"}
        template = ET.Element("Datasource", name=name)
        for key, value in parameters.items():
            ET.SubElement(template, "Parameter", name=key).text = value
        templates.append(template)
    return templates
