"""Writes of the spatial data model: every write path goes through these functions."""
