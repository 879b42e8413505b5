"""Mapnik's map scales at the XYZ grid's zooms: what the stylesheets' zoom rules and the label sources' margins are
checked against."""

from __future__ import annotations

from tiles.grid import TILE_SIZE, WORLD_HALF

PIXEL_M = 0.00028  # the pixel Mapnik assumes, as the OGC's standard rendering pixel (WMS 1.3.0 §7.2.4.6.9)
# The scale denominator of a zoom-0 tile: metres per pixel over that pixel.
_Z0_SCALE_DENOMINATOR = 2 * WORLD_HALF / TILE_SIZE / PIXEL_M


def scale_denominator(zoom: float) -> float:
    """Return the scale denominator Mapnik computes for a 256 px tile at ``zoom`` (or at 512 px @2x)."""
    return _Z0_SCALE_DENOMINATOR / 2**zoom


def largest_scale_denominator(first_zoom: int) -> float:
    """Return the scale denominator below which something drawn from ``first_zoom`` on is drawn (half a
    zoom out, so that float rounding never hides it at that zoom)."""
    return scale_denominator(first_zoom - 0.5)
