"""Site-wide admin settings: titles, and the index page that counts every layer."""

from django.contrib import admin

from .rate_limit import login_attempts_limited

admin.site.site_header = "Municipal geoportal administration"
admin.site.site_title = "Geoportal admin"
admin.site.empty_value_display = "–"
# Our own name, not admin/index.html: django.contrib.admin comes first in INSTALLED_APPS, so
# its admin/index.html would shadow an override of the same name in this app.
admin.site.index_template = "admin/geoportal_index.html"
# Sign-in attempts per client address and minute (settings.LOGIN_ATTEMPTS_PER_MINUTE): unlimited, a password could
# be guessed at the speed of the server.
admin.site.login = login_attempts_limited(admin.site.login)
