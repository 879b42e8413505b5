"""Count the features of a Mapbox Vector Tile without a protobuf library (MVT spec 2.1 §4.1:
Tile.layers = field 3; Layer.features = field 2), to check that peers serve the same parcels."""

from __future__ import annotations


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, at
        shift += 7


def _fields(data: bytes):
    """Yield (field number, wire type, value or payload bytes) of one protobuf message."""
    at = 0
    while at < len(data):
        key, at = _varint(data, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, at = _varint(data, at)
            yield number, wire, value
        elif wire == 2:
            length, at = _varint(data, at)
            yield number, wire, data[at : at + length]
            at += length
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            yield number, wire, data[at : at + size]
            at += size
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")


def mvt_feature_count(tile: bytes) -> int:
    """Return the number of features over all layers of ``tile``."""
    count = 0
    for number, wire, layer in _fields(tile):
        if number == 3 and wire == 2:
            count += sum(1 for field, kind, _ in _fields(layer) if field == 2 and kind == 2)
    return count
