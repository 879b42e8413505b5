"""geoportal/settings.py: in production the portal is served over HTTPS, so its cookies travel only over HTTPS and
browsers are told to use nothing else (HSTS); Django's deployment check agrees. And a variable whose value cannot be
read stops the portal with a message that names it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

MANAGE_PY = Path(__file__).resolve().parents[2] / "manage.py"
HTTPS_WARNINGS = ("security.W004", "security.W012", "security.W016")  # HSTS, session cookie, CSRF cookie


def _deploy_check(**environment: str) -> str:
    settings_environment = {
        **os.environ,
        "DJANGO_SECRET_KEY": "k" * 20 + "-not-a-real-secret-but-long-enough-for-the-check-0123456789",
        "DJANGO_ALLOWED_HOSTS": "geoportal.example.org",
        **environment,
    }
    finished = subprocess.run(
        [sys.executable, str(MANAGE_PY), "check", "--deploy"],
        env=settings_environment, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    return finished.stdout + finished.stderr


@pytest.mark.parametrize(("environment", "warned"), [({"GEOPORTAL_ENV": "production"}, False), ({}, True)])
def test_production_sends_cookies_only_over_https_and_asks_browsers_for_https_only(environment, warned):
    output = _deploy_check(**environment)

    assert [code for code in HTTPS_WARNINGS if code in output] == (list(HTTPS_WARNINGS) if warned else []), output


@pytest.mark.parametrize(
    ("variable", "value", "said"),
    [
        ("GEOPORTAL_SRID", "abc", "GEOPORTAL_SRID='abc' cannot be read"),
        ("DJANGO_DEBUG", "maybe", "DJANGO_DEBUG='maybe': true or false"),
        ("GEOPORTAL_TILE_CACHE", "bogus", "GEOPORTAL_TILE_CACHE='bogus': filesystem, redis or none"),
        ("GEOPORTAL_LOG_LEVEL", "loud", "GEOPORTAL_LOG_LEVEL='LOUD': DEBUG, INFO, WARNING, ERROR or CRITICAL"),
    ],
)
def test_a_setting_that_cannot_be_read_stops_the_portal_naming_its_variable(variable, value, said):
    """GEOPORTAL_SRID=abc stopped it with a bare ValueError; DJANGO_DEBUG=maybe was read as false and a bad tile cache
    was found by the first tile request, under the setting's name rather than the variable's."""
    finished = subprocess.run(
        [sys.executable, str(MANAGE_PY), "check"],
        env={**os.environ, variable: value}, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip

    assert finished.returncode != 0
    assert f"ImproperlyConfigured: {said}" in finished.stderr
