"""geoportal/content_security.py: the portal's own pages run no script but the portal's files; the admin (whose map
widget starts with an inline script) and the data answers are left as they are."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from geoportal.content_security import POLICY

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("path", ["/", "/ar/", "/accounts/sign-in/", "/parcels/NOWHERE/1/1/", "/no-such-page/"])
def test_every_page_of_ours_has_the_policy(client, municipality, path):
    response = client.get(path)

    assert response["Content-Type"].startswith("text/html"), (path, response.status_code)
    assert response["Content-Security-Policy"] == POLICY
    assert "script-src 'self';" in POLICY  # no inline script, no other site's


def test_the_admin_and_the_data_answers_have_none(client, municipality):
    client.force_login(User.objects.create_superuser("csp-admin", password="x"))  # noqa: S106

    admin = client.get("/admin/layers/area/add/")
    search = client.get("/api/search", {"q": "salmiya"})

    assert admin.status_code == 200
    assert "Content-Security-Policy" not in admin  # Django's map widget starts with an inline script
    assert "Content-Security-Policy" not in search
