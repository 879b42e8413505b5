"""tiles/grid.py: the XYZ grid on Web Mercator."""

from __future__ import annotations

import math

import pytest

from geoportal.errors import InvalidInput
from tiles.grid import WORLD_HALF, lonlat_to_3857, metatile_origin, tile_bounds, tile_check, tiles_count, tiles_covering


def test_tile_bounds_follow_the_xyz_scheme():
    assert tile_bounds(0, 0, 0) == pytest.approx((-WORLD_HALF, -WORLD_HALF, WORLD_HALF, WORLD_HALF))
    assert tile_bounds(1, 0, 0) == pytest.approx((-WORLD_HALF, 0, 0, WORLD_HALF))  # y = 0 is the north


def test_kuwait_towers_tile_covers_the_towers():
    x, y = lonlat_to_3857(48.0035, 29.3897)
    (tile,) = list(tiles_covering(16, (x, y, x, y)))
    xmin, ymin, xmax, ymax = tile_bounds(16, *tile)
    assert xmin <= x <= xmax
    assert ymin <= y <= ymax
    # The OpenStreetMap wiki's slippy-map formula, independent of our metre-based code:
    n, radians = 2**16, math.radians(29.3897)
    assert tile == (int((48.0035 + 180) / 360 * n), int((1 - math.asinh(math.tan(radians)) / math.pi) / 2 * n))


def test_count_matches_the_tiles_covering_a_box():
    box = (*lonlat_to_3857(47.9, 29.2), *lonlat_to_3857(48.1, 29.4))
    for z in (10, 14, 16):
        assert tiles_count(z, box) == len(list(tiles_covering(z, box)))


def test_metatiles_align_and_shrink_at_low_zoom():
    assert metatile_origin(18, 166071, 108715, 4) == (166068, 108712, 4)
    assert metatile_origin(1, 1, 1, 4) == (0, 0, 2)


@pytest.mark.parametrize(("z", "x", "y"), [(5, 32, 0), (5, 0, -1), (21, 0, 0)])
def test_tiles_outside_the_grid_or_zoom_range_are_refused(z, x, y):
    with pytest.raises(InvalidInput):
        tile_check(z, x, y, min_zoom=0, max_zoom=20)
