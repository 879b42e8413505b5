"""Which streets and landmarks matter most: whose label wins where labels collide on the map (tiles/styles/sources.py),
and which of two names the search finds equally well comes first (layers/selectors.py: a mall before a market stall
of the same area). Plain names, without Django: Mapnik's data sources are built from them."""

from __future__ import annotations

# layers.models.StreetClass and LandmarkCategory's values, the most prominent first.
STREET_PROMINENCE = ("motorway", "ring_road", "arterial", "collector", "local")
LANDMARK_PROMINENCE = (
    "tourist_site",
    "mall",
    "hospital",
    "museum",
    "government_office",
    "hotel",
    "park",
    "school",
    "mosque",
    "market",
)


def sql_array(values: tuple[str, ...]) -> str:
    """``values`` as an SQL array literal of text (our own constants): ARRAY['motorway', 'ring_road', …]."""
    return "ARRAY[" + ", ".join(f"'{value}'" for value in values) + "]"
