"""A parcel's full municipal file: identify a parcel, assemble its file for a role, audit the view.

- ``identify``: a parcel from a point (in any supported CRS), its identity, or its id;
- ``access``: what a user may see (deny by default: the public gets the public subset);
- ``assembly``: the file itself, from a fixed, small set of SQL queries (``queries``);
- ``audit``: the log of views by signed-in users.
"""
