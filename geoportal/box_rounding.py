"""A bounding box written with few decimals, rounded outward: the box it advertises holds every feature.

Rounded to the nearest, a capabilities document's box could fall a few millimetres inside the data (the parcels'
west edge 47.62996352 written 47.629964), and a client that trusts it, to clip or to cache, cut the edge off.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def box_rounded_outward(box: Sequence[float], places: int) -> tuple[float, float, float, float]:
    """``box`` (min x, min y, max x, max y) with its minimums rounded down and its maximums up to ``places``."""
    scale = 10**places
    min_x, min_y, max_x, max_y = box
    return (
        math.floor(min_x * scale) / scale,
        math.floor(min_y * scale) / scale,
        math.ceil(max_x * scale) / scale,
        math.ceil(max_y * scale) / scale,
    )
