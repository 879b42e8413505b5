"""WSGI entry point (gunicorn geoportal.wsgi): Django, with tile GETs on their lean path."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "geoportal.settings")
django_application = get_wsgi_application()

from tiles.wsgi import TileFastPath  # noqa: E402  (after Django is set up)

application = TileFastPath(django_application)
