"""ASGI entry point."""

import os

from django.core.asgi import get_asgi_application

from geoportal.statement_timeout import web_statement_timeout_install

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "geoportal.settings")
web_statement_timeout_install()  # before any connection opens: every statement of a request is time-limited
application = get_asgi_application()
