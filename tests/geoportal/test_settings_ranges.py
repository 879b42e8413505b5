"""geoportal/settings.py: a value that reads fine but makes no sense (a metatile of 0 tiles, -1 proxies, an empty
queue name) stops the portal with a message naming the variable, the value and the range; the bound itself, and
the 0 that some settings document as "off", are accepted."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from geoportal.celery import WORKER_HEARTBEAT_SECONDS
from tiles.raster import MAX_METATILE_SIZE

MANAGE_PY = Path(__file__).resolve().parents[2] / "manage.py"
HEARTBEAT = int(WORKER_HEARTBEAT_SECONDS)


def _check(variable: str, value: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(MANAGE_PY), "check"],
        env={**os.environ, variable: value}, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("variable", "refused", "allowed", "accepted"),
    [
        ("GEOPORTAL_TILE_METATILE_SIZE", "0", f"from 1 to {MAX_METATILE_SIZE}", "1"),
        ("GEOPORTAL_TILE_METATILE_SIZE", "-4", f"from 1 to {MAX_METATILE_SIZE}", "4"),
        ("GEOPORTAL_TILE_METATILE_SIZE", f"{MAX_METATILE_SIZE + 1}", f"from 1 to {MAX_METATILE_SIZE}",
         f"{MAX_METATILE_SIZE}"),
        ("GEOPORTAL_TILE_RENDER_CONCURRENCY", "-1", "at least 1", "1"),
        ("GEOPORTAL_TILE_RENDER_QUEUE", "-1", "at least 0", "0"),  # 0: none wait
        ("GEOPORTAL_TILE_RENDER_WAIT_SECONDS", "0", "more than 0", "0.05"),
        ("GEOPORTAL_TILE_DISK_RESERVE_PERCENT", "101", "from 0 to 100", "0"),
        ("GEOPORTAL_PROXY_HOPS", "-1", "at least 0", "0"),
        ("GEOPORTAL_PARCEL_FILE_RATE_ANONYMOUS", "-1", "at least 0", "0"),  # 0 turns the limit off
        ("GEOPORTAL_LOGIN_ATTEMPTS_PER_MINUTE", "-10", "at least 0", "0"),  # 0: no limit
        ("GEOPORTAL_IMPORT_DELIVERY_KEEP_DAYS", "-1", "at least 0", "0"),  # 0 keeps everything
        ("GEOPORTAL_WFS_MAX_FEATURES", "0", "at least 1", "1"),
        ("GEOPORTAL_IMPORT_PULL_TIMEOUT_SECONDS", "-5", "more than 0", "0.5"),
        ("GEOPORTAL_IMPORT_OVERLAP_TOLERANCE_SHARE", "1.5", "from 0 to 1", "1"),
        ("GEOPORTAL_HEALTH_WORKER_SILENCE_SECONDS", f"{HEARTBEAT}", f"more than {HEARTBEAT}", f"{HEARTBEAT + 1}"),
        ("GEOPORTAL_SRID", "0", "from 1 to 998999", "31901"),
    ],
)  # fmt: skip
def test_a_value_out_of_range_stops_the_portal_naming_variable_value_and_range(variable, refused, allowed, accepted):
    """GEOPORTAL_TILE_METATILE_SIZE=0 failed every raster tile request and GEOPORTAL_PROXY_HOPS=-1 read the client's
    address from the wrong end of X-Forwarded-For, both without a word at start-up."""
    stopped = _check(variable, refused)
    started = _check(variable, accepted)

    assert stopped.returncode != 0
    assert f"ImproperlyConfigured: {variable}='{refused}' is out of range: {allowed}." in stopped.stderr
    assert started.returncode == 0, started.stderr


@pytest.mark.parametrize(
    ("variable", "blank", "accepted"),
    [("GEOPORTAL_IMPORT_QUEUE", "", "imports"), ("GEOPORTAL_TILE_REDIS_NAMESPACE", " ", "tiles-second-portal")],
)
def test_a_blank_name_stops_the_portal_naming_its_variable(variable, blank, accepted):
    """An empty GEOPORTAL_IMPORT_QUEUE was accepted (no worker can be started with -Q ''), and so was a blank prefix
    for the keys a deployment keeps in Redis."""
    stopped = _check(variable, blank)
    started = _check(variable, accepted)

    assert stopped.returncode != 0
    assert (
        f"ImproperlyConfigured: {variable}={blank!r} is blank: set it, or unset it for the default." in stopped.stderr
    )
    assert started.returncode == 0, started.stderr


def test_an_empty_folder_is_refused_where_it_would_mean_the_working_directory():
    """Path("") is the working directory: media, tiles and quarantine would have been written wherever the portal
    was started. An empty GEOPORTAL_TILE_PUBLISH_DIR keeps its documented meaning: nothing is published."""
    stopped = _check("GEOPORTAL_MEDIA_ROOT", "")
    started = _check("GEOPORTAL_TILE_PUBLISH_DIR", "")

    assert "ImproperlyConfigured: GEOPORTAL_MEDIA_ROOT='' is blank" in stopped.stderr
    assert started.returncode == 0, started.stderr


def _read_setting(name: str, variable: str, value: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(MANAGE_PY), "shell", "-c", f"from django.conf import settings; print(settings.{name})"],
        env={**os.environ, variable: value}, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("variable", "refused", "expected", "accepted"),
    [
        ("GEOPORTAL_TILE_RENDER_WAIT_SECONDS", "0.5s", "a decimal number in the digits 0-9, such as 0.5 or 2e1", ".5"),
        ("GEOPORTAL_TILE_RENDER_WAIT_SECONDS", "1e999", "it is not a finite number", " 2.5 "),
        ("GEOPORTAL_TILE_RENDER_CONCURRENCY", "٣", "a whole number in the digits 0-9", "3"),  # an Arabic-Indic 3
        ("GEOPORTAL_TILE_RENDER_CONCURRENCY", "1_000", "a whole number in the digits 0-9", " 4 "),
    ],
)  # fmt: skip
def test_a_number_not_in_ascii_digits_is_refused_naming_the_form_expected(variable, refused, expected, accepted):
    """django-environ's float kept the digits, commas, points and minus signs of a value, so 0.5s was read as 0.5;
    Python's int() read Arabic-Indic digits and 1_000."""
    stopped = _check(variable, refused)
    started = _check(variable, accepted)

    assert stopped.returncode != 0
    assert f"ImproperlyConfigured: {variable}={refused!r} cannot be read: {expected}." in stopped.stderr
    assert started.returncode == 0, started.stderr


def test_a_decimal_with_an_exponent_is_read_whole():
    """2e1 was read as 21.0: django-environ dropped the e."""
    read = _read_setting("TILE_RENDER_WAIT_SECONDS", "GEOPORTAL_TILE_RENDER_WAIT_SECONDS", "2e1")

    assert read.stdout.strip().splitlines()[-1] == "20.0", read.stderr


def test_a_publication_folder_of_spaces_is_refused():
    """An empty GEOPORTAL_TILE_PUBLISH_DIR publishes nothing (the test above); spaces were taken for a folder's name."""
    stopped = _check("GEOPORTAL_TILE_PUBLISH_DIR", "  ")

    assert stopped.returncode != 0
    assert "GEOPORTAL_TILE_PUBLISH_DIR='  ' is blank: set it, or empty to publish nothing." in stopped.stderr
