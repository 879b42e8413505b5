"""The parcel report's pictures and its PDF: a static map drawn by Mapnik, and WeasyPrint.

The map is our own basemap around the parcel and its neighbours, with the parcel outlined and a
scale bar. The PDF is the printable page itself (``frontend/parcel_print.html``) laid out by
WeasyPrint, which shapes Arabic with HarfBuzz; it fetches nothing but inline ``data:`` images.
"""

from __future__ import annotations

import base64
import io
import math

from django.db import connection
from PIL import Image, ImageDraw

from geoportal.errors import NotFound
from tiles.raster import render_view
from tiles.render_slots import render_slot

MAP_WIDTH, MAP_HEIGHT, MAP_SCALE = 720, 440, 2
MAP_MARGIN_M = 45.0  # around the parcel, so that its neighbours and fronting streets show
OUTLINE = (192, 57, 43, 255)
FILL = (192, 57, 43, 56)

_PARCEL_3857_SQL = """
SELECT ST_AsGeoJSON(geom_3857, 3)::json, ST_XMin(geom_3857), ST_YMin(geom_3857), ST_XMax(geom_3857), ST_YMax(geom_3857)
FROM layers_parcel WHERE id = %s
"""


def parcel_map_png(*, parcel_id: int) -> bytes:
    """Draw the parcel (outlined) on the basemap with its neighbours and a scale bar; return PNG bytes."""
    with connection.cursor() as cursor:
        cursor.execute(_PARCEL_3857_SQL, [parcel_id])
        row = cursor.fetchone()
    if row is None:
        raise NotFound(f"no parcel with id {parcel_id}.", field="id")
    geometry, west, south, east, north = row
    bbox = _view_box(west, south, east, north)
    with render_slot():  # a static map is a big raster render: it shares the tiles' render limit
        rendered = render_view(layer="basemap", bbox=bbox, width=MAP_WIDTH, height=MAP_HEIGHT)
    base = Image.open(io.BytesIO(rendered))
    overlay = Image.new("RGBA", base.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    to_pixel = _pixel_transform(bbox, base.size)
    for ring in geometry["coordinates"]:
        points = [to_pixel(x, y) for x, y in ring]
        draw.polygon(points, fill=FILL)
        draw.line([*points, points[0]], fill=OUTLINE, width=3 * MAP_SCALE, joint="curve")
    _scale_bar(draw, bbox, base.size, latitude_y=(south + north) / 2)
    picture = Image.alpha_composite(base.convert("RGBA"), overlay)
    output = io.BytesIO()
    picture.save(output, format="PNG", optimize=True)
    return output.getvalue()


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def _view_box(west: float, south: float, east: float, north: float) -> tuple[float, float, float, float]:
    """A box around the parcel with the map's aspect ratio; Mercator metres are stretched by 1/cos(lat)."""
    stretch = 1 / math.cos(2 * math.atan(math.exp((south + north) / 2 / 6378137.0)) - math.pi / 2)
    margin = MAP_MARGIN_M * stretch
    width, height = east - west + 2 * margin, north - south + 2 * margin
    aspect = MAP_WIDTH / MAP_HEIGHT
    width, height = max(width, height * aspect), max(height, width / aspect)
    centre_x, centre_y = (west + east) / 2, (south + north) / 2
    return centre_x - width / 2, centre_y - height / 2, centre_x + width / 2, centre_y + height / 2


def _pixel_transform(bbox: tuple[float, float, float, float], size: tuple[int, int]):
    west, south, east, north = bbox
    sx, sy = size[0] / (east - west), size[1] / (north - south)
    return lambda x, y: ((x - west) * sx, (north - y) * sy)


def _scale_bar(draw: ImageDraw.ImageDraw, bbox, size: tuple[int, int], *, latitude_y: float) -> None:
    """Draw a 10/20/50 m bar in the lower left, in true ground metres at the map's latitude."""
    west, _, east, _ = bbox
    latitude = 2 * math.atan(math.exp(latitude_y / 6378137.0)) - math.pi / 2
    ground_metres_per_px = (east - west) / size[0] * math.cos(latitude)
    length_m = next(m for m in (100, 50, 20, 10, 5) if m / ground_metres_per_px <= size[0] / 4)
    length_px = length_m / ground_metres_per_px
    x0, y0 = 16 * MAP_SCALE, size[1] - 18 * MAP_SCALE
    draw.rectangle([x0 - 6, y0 - 22 * MAP_SCALE, x0 + length_px + 6, y0 + 8], fill=(255, 255, 255, 210))
    draw.line([(x0, y0), (x0 + length_px, y0)], fill=(30, 30, 30, 255), width=2 * MAP_SCALE)
    for x in (x0, x0 + length_px):
        draw.line([(x, y0 - 5 * MAP_SCALE), (x, y0)], fill=(30, 30, 30, 255), width=2 * MAP_SCALE)
    draw.text((x0, y0 - 20 * MAP_SCALE), f"{length_m} m", fill=(30, 30, 30, 255), font_size=12 * MAP_SCALE)


def report_pdf(html: str) -> bytes:
    """Lay the printable page out as PDF; nothing is fetched but inline data: images."""
    from weasyprint import HTML
    from weasyprint.urls import URLFetcher

    fetcher = URLFetcher(allowed_protocols={"data"}, allow_redirects=False)
    with render_slot():  # a second or so of CPU: bounded like the raster renders
        return HTML(string=html, url_fetcher=fetcher).write_pdf()
