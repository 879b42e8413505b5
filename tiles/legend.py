"""The map layers' legends: WMS GetLegendGraphic, and the LegendURL each layer's style gives in the capabilities.

A legend lists what a layer draws, one entry per class its stylesheet tells apart (a land use, a zoning
category, a street class, a landmark category, a governorate): a swatch and a label.

- The swatch is drawn by Mapnik from the layer's own stylesheet (``tiles/raster.render_sample``), over a sample
  feature with the entry's attributes, at a zoom where the entry is drawn. So a legend shows what the map
  draws and follows the stylesheet when it changes. It reads no data but the governorates' names: nothing in
  it can be withheld from anyone.
- The label is English, or Arabic with ``LANGUAGE=ar`` (GeoServer's parameter): then the legend reads right to
  left, the swatch on the right. Pillow, with raqm, shapes the Arabic.
- With a ``SCALE`` (a scale denominator, as QGIS sends for a legend of what its map shows), the swatches are
  drawn at that scale and an entry drawn nothing there is left out; a layer not drawn there at all gets an
  empty legend (one transparent pixel), as GeoServer's.
"""

from __future__ import annotations

import functools
import io
import math
from dataclasses import dataclass, replace
from typing import Literal

from django.utils import translation
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from PIL import Image, ImageDraw, ImageFont

from layers.models import Governorate, LandmarkCategory, LandUse, ParcelStatus, StreetClass, ZoningCategory

from .grid import TILE_SIZE, WORLD_HALF
from .layers import LAYERS
from .styles.stylesheet import FONT_FILES, PIXEL_M

SWATCH_PX = 20  # a swatch's side unless WIDTH/HEIGHT ask otherwise, as GeoServer's
SWATCH_MIN_PX, SWATCH_MAX_PX = 8, 128
FONT_PX = 12
PADDING_PX = 4  # around the legend and between rows
GAP_PX = 6  # between a swatch and its label
INSET_PX = 2  # a sample polygon's edge inside its swatch, so that its outline shows
LANGUAGES = ("en", "ar")
TEXT_RGBA = (51, 51, 51, 255)
BACKGROUND = "<background>"  # an entry's map layer: the stylesheet's background colour (land beyond the municipality)

Geometry = Literal["polygon", "line", "point"]


@dataclass(frozen=True)
class LegendEntry:
    """One class a layer draws: its label, and the sample feature its swatch is drawn from."""

    label: str  # lazy: translated when the legend is drawn
    geometry: Geometry
    zoom: int  # the swatch is drawn as at this zoom, unless the request gives a SCALE
    attributes: tuple[tuple[str, str], ...] = ()
    map_layers: tuple[str, ...] = ()  # the stylesheet's Layers that draw it; () is every Layer but labels
    label_ar: str = ""  # the Arabic label where it comes from the data, not from the catalogue


@dataclass(frozen=True)
class LegendRequest:
    layer: str
    language: str = "en"
    swatch_px: tuple[int, int] = (SWATCH_PX, SWATCH_PX)
    scale_denominator: float | None = None
    transparent: bool = False


def _classes(choices, field: str, geometry: Geometry, zoom: int, *, map_layers=(), **fixed) -> list[LegendEntry]:
    return [
        LegendEntry(choice.label, geometry, zoom, ((field, choice.value), *fixed.items()), map_layers)
        for choice in choices
    ]


def _land_uses() -> list[LegendEntry]:
    return _classes(LandUse, "land_use", "polygon", 17, status=ParcelStatus.REGISTERED.value)


@functools.cache
def _fixed_entries() -> dict[str, tuple[LegendEntry, ...]]:
    streets = _classes(StreetClass, "street_class", "line", 15)
    landmarks = _classes(LandmarkCategory, "category", "point", 16)
    return {
        "areas": (LegendEntry(_("Area"), "polygon", 14),),
        "blocks": (LegendEntry(_("Block"), "polygon", 16),),
        "parcels": (
            *_land_uses(),
            LegendEntry(ParcelStatus.DISPUTED.label, "polygon", 17, (("status", ParcelStatus.DISPUTED.value),)),
            LegendEntry(ParcelStatus.UNDER_SURVEY.label, "polygon", 17, (("status", ParcelStatus.UNDER_SURVEY.value),)),
        ),
        "zoning": tuple(_classes(ZoningCategory, "category", "polygon", 13)),
        "streets": tuple(streets),
        "landmarks": tuple(landmarks),
        "basemap": (
            LegendEntry(_("Sea"), "polygon", 12, map_layers=("sea",)),
            LegendEntry(_("The municipality's land"), "polygon", 12, map_layers=("municipal-land",)),
            LegendEntry(_("Land beyond the municipality"), "polygon", 12, map_layers=(BACKGROUND,)),
            LegendEntry(_("Governorate boundary"), "line", 12, map_layers=("governorate-boundaries",)),
            LegendEntry(_("Area boundary"), "polygon", 14, map_layers=("areas",)),
            LegendEntry(_("Block"), "polygon", 16, map_layers=("blocks",)),
            # "Parcel: Mosque", apart from the landmark "Mosque" below
            *(
                replace(
                    entry, label=format_lazy(_("Parcel: {land_use}"), land_use=entry.label), map_layers=("parcels",)
                )
                for entry in _land_uses()
            ),  # fmt: skip
            *(replace(entry, map_layers=("streets",)) for entry in streets),
            *(replace(entry, map_layers=("landmarks",)) for entry in landmarks),
        ),
    }


def legend_entries(layer: str) -> tuple[LegendEntry, ...]:
    """The entries of ``layer``'s legend, in the order they are listed."""
    if layer == "governorates":
        rows = Governorate.objects.order_by("code").values_list("code", "name_en", "name_ar")
        return tuple(
            LegendEntry(name_en, "polygon", 10, (("code", code),), label_ar=name_ar) for code, name_en, name_ar in rows
        )
    return _fixed_entries()[layer]


@functools.cache
def landmark_icon_first_zooms() -> dict[str, int]:
    """The first zoom at which the basemap draws each landmark category's icon, found by drawing a sample at each
    zoom with its stylesheet (as a legend's swatch is): the home map offers a landmark to click where the basemap
    shows its icon, and nowhere else (a circle of its own over the icon hid the names around it)."""
    basemap = LAYERS["basemap"]
    zooms = {}
    for category in LandmarkCategory:
        attributes = (("category", category.value),)
        for zoom in range(basemap.min_zoom, basemap.max_zoom + 1):
            if _sample_png("basemap", "point", attributes, ("landmarks",), SWATCH_PX, SWATCH_PX, zoom) is not None:
                zooms[category.value] = zoom
                break
    return zooms


def legend_png(request: LegendRequest) -> bytes:
    """Draw ``request.layer``'s legend as a PNG."""
    zoom = None if request.scale_denominator is None else _zoom_of(request.scale_denominator)
    layer = LAYERS[request.layer]
    if zoom is not None and not layer.min_zoom - 0.5 <= zoom < layer.max_zoom + 1:
        return _empty_png()
    rows = []
    for entry in legend_entries(request.layer):
        swatch = _swatch(request.layer, entry, request.swatch_px, entry.zoom if zoom is None else zoom)
        if swatch is not None:
            rows.append((_label(entry, request.language), swatch))
    if not rows:
        return _empty_png()
    return _compose(rows, request)


def legend_size(layer: str, language: str = "en") -> tuple[int, int]:
    """The size of ``layer``'s legend without a SCALE (every entry listed), for the capabilities' LegendURL."""
    labels = [_label(entry, language) for entry in legend_entries(layer)]
    return _layout(labels, (SWATCH_PX, SWATCH_PX), language)[0]


def _label(entry: LegendEntry, language: str) -> str:
    if language == "ar" and entry.label_ar:
        return entry.label_ar
    with translation.override(language):
        return str(entry.label)


def _zoom_of(scale_denominator: float) -> float:
    return math.log2(2 * WORLD_HALF / TILE_SIZE / PIXEL_M / scale_denominator)


def _swatch(layer: str, entry: LegendEntry, swatch_px: tuple[int, int], zoom: float) -> Image.Image | None:
    width, height = swatch_px
    if entry.map_layers == (BACKGROUND,):
        return _background_swatch(layer, width, height)
    png = _sample_png(layer, entry.geometry, entry.attributes, entry.map_layers, width, height, round(zoom, 3))
    return None if png is None else Image.open(io.BytesIO(png)).convert("RGBA")


@functools.lru_cache(maxsize=1024)
def _sample_png(layer, geometry, attributes, map_layers, width, height, zoom) -> bytes | None:
    from .raster import render_sample  # Mapnik only when a legend is drawn, not for the capabilities

    metres_per_pixel = 2 * WORLD_HALF / (TILE_SIZE * 2**zoom)
    feature = {"type": "Feature", "geometry": _sample_geometry(geometry, width, height, metres_per_pixel),
               "properties": dict(attributes)}  # fmt: skip
    size = {"width": width, "height": height, "metres_per_pixel": metres_per_pixel}
    return render_sample(layer=layer, feature=feature, map_layers=map_layers, **size)


def _sample_geometry(geometry: Geometry, width: int, height: int, metres_per_pixel: float) -> dict:
    """The sample feature of a swatch, in the swatch map's metres (0, 0 at its bottom left)."""

    def point(x_px: float, y_px: float) -> list[float]:
        return [x_px * metres_per_pixel, y_px * metres_per_pixel]

    if geometry == "point":
        return {"type": "Point", "coordinates": point(width / 2, height / 2)}
    if geometry == "line":
        return {"type": "LineString", "coordinates": [point(0, height / 2), point(width, height / 2)]}
    low, right, top = INSET_PX, width - INSET_PX, height - INSET_PX
    ring = [point(low, low), point(right, low), point(right, top), point(low, top), point(low, low)]
    return {"type": "Polygon", "coordinates": [ring]}


def _background_swatch(layer: str, width: int, height: int) -> Image.Image | None:
    from .raster import background_colour

    colour = background_colour(layer)
    if colour is None:
        return None
    swatch = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    ImageDraw.Draw(swatch).rectangle((INSET_PX, INSET_PX, width - INSET_PX - 1, height - INSET_PX - 1), fill=colour)
    return swatch


@functools.cache
def _font(language: str) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(FONT_FILES[language], FONT_PX, layout_engine=ImageFont.Layout.RAQM)


@functools.lru_cache(maxsize=4096)
def _text_width(label: str, language: str) -> float:
    return _font(language).getlength(label)  # the capabilities measure every layer's legend at each request


def _layout(labels: list[str], swatch_px: tuple[int, int], language: str):
    """Return the legend's size and each row's (swatch x, y, label x, middle y): left to right, or for Arabic
    right to left (the swatch on the right, the label ending beside it)."""
    swatch_width, swatch_height = swatch_px
    row_height = max(swatch_height, FONT_PX + 6)
    text_width = math.ceil(max((_text_width(label, language) for label in labels), default=0))
    width = PADDING_PX * 2 + swatch_width + GAP_PX + text_width
    height = PADDING_PX + len(labels) * (row_height + PADDING_PX)
    places = []
    for index in range(len(labels)):
        top = PADDING_PX + index * (row_height + PADDING_PX)
        middle = top + row_height / 2
        swatch_y = top + (row_height - swatch_height) // 2
        if language == "ar":
            swatch_x = width - PADDING_PX - swatch_width
            places.append((swatch_x, swatch_y, swatch_x - GAP_PX, middle))
        else:
            places.append((PADDING_PX, swatch_y, PADDING_PX + swatch_width + GAP_PX, middle))
    return (width, height), places


def _compose(rows: list[tuple[str, Image.Image]], request: LegendRequest) -> bytes:
    labels = [label for label, _swatch_image in rows]
    size, places = _layout(labels, request.swatch_px, request.language)
    canvas = Image.new("RGBA", size, (255, 255, 255, 0 if request.transparent else 255))
    draw = ImageDraw.Draw(canvas)
    font = _font(request.language)
    anchor = "rm" if request.language == "ar" else "lm"
    direction = "rtl" if request.language == "ar" else "ltr"
    for (label, swatch), (swatch_x, swatch_y, label_x, middle) in zip(rows, places, strict=True):
        canvas.alpha_composite(swatch, dest=(swatch_x, swatch_y))
        draw.text((label_x, middle), label, font=font, fill=TEXT_RGBA, anchor=anchor, direction=direction)
    return _png(canvas)


def _empty_png() -> bytes:
    return _png(Image.new("RGBA", (1, 1), (0, 0, 0, 0)))


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()
