"""Cartography of the raster tiles: Mapnik stylesheets, their SQL sources and marker icons."""
