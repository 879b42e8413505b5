"""WSGI entry point (granian: geoportal.wsgi:application): Django, with tile GETs and anonymous parcel-file
GETs on their lean paths (tiles/wsgi.py, frontend/wsgi.py), and every database statement time-limited
(geoportal/statement_timeout.py).

Granian copies the whole process environment into every request's environ (``request.META``), the
database URL and the secret key included. ``WithoutProcessEnvironment`` takes those keys out again,
so that nothing that reports or logs ``META`` can show them.
"""

import os

from django.core.wsgi import get_wsgi_application

from geoportal.statement_timeout import web_statement_timeout_install

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "geoportal.settings")
web_statement_timeout_install()  # before any connection opens: every statement of a request is time-limited
django_application = get_wsgi_application()

from frontend.wsgi import ParcelFileFastPath  # noqa: E402  (after Django is set up)
from geoportal.wsgi_environ import WithoutProcessEnvironment  # noqa: E402
from tiles.wsgi import TileFastPath  # noqa: E402

# Tile GETs before the environment is taken out: they show it to nothing, and the taking costs them 10–15 µs.
application = TileFastPath(WithoutProcessEnvironment(ParcelFileFastPath(django_application)))
