"""The embedded default: a private PostGIS cluster and a private Redis under ``var/``.

Stdlib only, so that it runs before Django is configured. Both servers listen on unix
sockets only (no TCP port to collide with another checkout or a system service) and are
started and stopped by us.
"""
