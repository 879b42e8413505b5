"""The images of the WMS (tiles/wms.py) besides Mapnik's map itself: where a map lies inside its CRS's extent
(``map_window``), the canvas a GetMap answers on, and an error drawn into such an image (EXCEPTIONS=INIMAGE).

A BBOX may reach past its CRS's extent, as a client zoomed far out asks (WMS 1.3.0 §7.3.3.6): Mapnik draws only
the whole pixels inside it, which ``framed`` puts in their place on the canvas; the rest keeps the background.
"""

from __future__ import annotations

import functools
import io
import math
import re
import textwrap
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

from .styles.stylesheet import FONT_FILES

MESSAGE_IN_IMAGE_MAX = 300  # characters of a message drawn into a map (INIMAGE): a few lines, whatever it echoes
MESSAGE_FONT_PX = 13
# Arabic script (its letters, Arabic-Indic digits and punctuation, and the presentation forms). A run of it, with the
# spaces and digits between its letters, is drawn in the Arabic face right to left; the rest in the Latin face.
ARABIC_SCRIPT = "\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff\ufb50-\ufdff\ufe70-\ufeff"
ARABIC_RUN = re.compile(f"[{ARABIC_SCRIPT}](?:[{ARABIC_SCRIPT} 0-9]*[{ARABIC_SCRIPT}0-9])?")


@dataclass(frozen=True)
class MapWindow:
    """The whole pixels of a map that lie inside its CRS's extent: their box, and where they are in the image."""

    bbox: tuple[float, float, float, float]
    left: int
    top: int
    width: int
    height: int

    def holds(self, i: int, j: int) -> bool:
        return self.left <= i < self.left + self.width and self.top <= j < self.top + self.height


@dataclass(frozen=True)
class MapCanvas:
    """The image a GetMap answers: its format, size and background. Checked before the rest of the request, so
    that a later error can be answered in such an image (EXCEPTIONS=INIMAGE or BLANK)."""

    content_type: str
    encoding: str  # Mapnik's
    width: int
    height: int
    background: str | None  # a CSS colour; None is transparent


def map_window(request) -> MapWindow | None:
    """The whole pixels of ``request``'s map (a tiles.wms.MapRequest) that lie inside its CRS's extent; None when
    none do.

    WMS 1.3.0 §7.3.3.6: a box reaching past the CRS is drawn where the CRS is defined and left empty beyond. A pixel
    across the edge is left empty too, so Mapnik is never asked for ground its CRS does not cover (PROJ would wrap a
    longitude past 180° round the world, and has no Web Mercator y for 90°+)."""
    west, south, east, north = request.bbox
    low_x, low_y, high_x, high_y = request.crs.bounds
    left, right = _pixels_within(west, east, low_x, high_x, request.width)
    top, bottom = _pixels_within(-north, -south, -high_y, -low_y, request.height)  # rows count from the north
    if left >= right or top >= bottom:
        return None
    box = (
        _pixel_edge(west, east, left, request.width),
        _pixel_edge(north, south, bottom, request.height),
        _pixel_edge(west, east, right, request.width),
        _pixel_edge(north, south, top, request.height),
    )
    return MapWindow(box, left, top, right - left, bottom - top)


def _pixels_within(start: float, end: float, low: float, high: float, count: int) -> tuple[int, int]:
    """The first and past-the-last of the ``count`` pixels from ``start`` to ``end`` that lie wholly in low…high."""
    # As shares of the side, clamped before they are rounded: a box of 1e-300 puts the extent at ±inf pixels.
    first = min(max((low - start) / (end - start), 0.0), 1.0) * count
    last = min(max((high - start) / (end - start), 0.0), 1.0) * count
    return math.ceil(first), math.floor(last)


def _pixel_edge(start: float, end: float, index: int, count: int) -> float:
    """Where the edge before pixel ``index`` lies; at the box's own ends, exactly its coordinates."""
    if index == 0:
        return start
    if index == count:
        return end
    return start + (end - start) * index / count


def canvas_image(canvas: MapCanvas):
    """An image of ``canvas``'s size and background, nothing drawn."""
    import mapnik  # once Django's settings are loaded (geoportal points Mapnik's PROJ at its data first)

    image = mapnik.Image(canvas.width, canvas.height)
    if canvas.background is not None:
        image.fill(mapnik.Color(canvas.background))
    return image


def framed(part, window: MapWindow, canvas: MapCanvas):
    """``part`` of a map put in its place on the canvas; the pixels outside the CRS's extent keep the background."""
    import mapnik

    image = canvas_image(canvas)
    image.composite(part, mapnik.CompositeOp.src, 1.0, window.left, window.top)
    return image


def error_image(message: str, canvas: MapCanvas, *, written: bool):
    """An image of ``canvas``: with ``message`` drawn on it when ``written`` (INIMAGE), else the background (BLANK)."""
    import mapnik

    image = canvas_image(canvas)
    if written:
        image.composite(mapnik.Image.from_buffer(_message_png(message, canvas.width, canvas.height)),
                        mapnik.CompositeOp.src_over, 1.0, 0, 0)  # fmt: skip
    return image


def _message_png(message: str, width: int, height: int) -> bytes:
    """``message``, at most MESSAGE_IN_IMAGE_MAX characters and the lines ``height`` holds, wrapped to ``width``:
    dark text with a white halo, readable over any background, as a transparent PNG strip from the top left."""
    font = _message_font("en")
    margin, line_px = 4, MESSAGE_FONT_PX + 5
    text = "".join(character if character.isprintable() else "\ufffd" for character in message)
    if len(text) > MESSAGE_IN_IMAGE_MAX:
        text = text[: MESSAGE_IN_IMAGE_MAX - 1] + "…"
    characters = max(8, int((width - 2 * margin) / (font.getlength(text) / len(text))))
    lines = textwrap.wrap(text, width=characters, max_lines=max(1, (height - margin) // line_px), placeholder=" …")
    strip = Image.new("RGBA", (width, min(height, 2 * margin + len(lines) * line_px)), (0, 0, 0, 0))
    draw = ImageDraw.Draw(strip)
    ascent = font.getmetrics()[0]
    for number, line in enumerate(lines):
        x, baseline = margin, margin + number * line_px + ascent
        for run, language in message_runs(line):
            run_font, direction = _message_font(language), ("rtl" if language == "ar" else "ltr")
            draw.text((x, baseline), run, font=run_font, anchor="ls", direction=direction,
                      fill=(34, 34, 34, 255), stroke_width=2, stroke_fill=(255, 255, 255, 255))  # fmt: skip
            x += run_font.getlength(run, direction=direction)
    buffer = io.BytesIO()
    strip.save(buffer, "PNG")
    return buffer.getvalue()


def message_runs(line: str) -> list[tuple[str, str]]:
    """``line`` cut into runs, each with the language of the face it is drawn in: "ar" for Arabic script (a message
    echoes what was asked: LAYERS=شوارع), "en" for the rest. The line reads left to right, an Arabic run inside it
    right to left."""
    runs, start = [], 0
    for arabic in ARABIC_RUN.finditer(line):
        runs += [(line[start : arabic.start()], "en"), (arabic.group(), "ar")]
        start = arabic.end()
    return [(text, language) for text, language in [*runs, (line[start:], "en")] if text]


@functools.cache
def _message_font(language: str) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(FONT_FILES[language], MESSAGE_FONT_PX, layout_engine=ImageFont.Layout.RAQM)
