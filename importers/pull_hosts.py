"""Which hosts a scheduled pull may download from: only those the operator lists, deny by default.

A DeliverySchedule's URL is typed by an admin in the browser; without a list, it could make the
worker fetch any address it can reach (a cloud metadata service, the database's web console, an
internal API): server-side request forgery. GEOPORTAL_IMPORT_PULL_HOSTS names the departments'
delivery servers, as ``host`` (any port) or ``host:port``. Every redirect is checked the same way.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

from geoportal.errors import DomainError


class PullHostRefused(DomainError):
    status = 403
    code = "PullHostRefused"


def _host_and_port(url: str) -> tuple[str, int | None]:
    """The URL's host name (lower case, without a final dot) and its port (None when it names none)."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:  # out of range or not a number: matches no listed host
        return "", -1
    return (parts.hostname or "").lower().rstrip("."), port


def _parsed_alike(url: str) -> bool:
    """True when the host we check is the host requests will connect to.

    Python's ``urlsplit`` and urllib3 (under requests) read some URLs differently: in
    ``http://169.254.169.254\\@dept.example/`` the first sees the host dept.example, the second
    169.254.169.254. A backslash, or user information, has no place in a delivery URL: refused.
    """
    if "\\" in url or urlsplit(url).username is not None:
        return False
    try:
        connected = (parse_url(url).host or "").lower().rstrip(".").strip("[]")
    except LocationParseError:
        return False
    return connected == _host_and_port(url)[0]


def pull_host_allowed(url: str) -> bool:
    """True when ``url`` is http(s) and its host is listed in IMPORT_PULL_HOSTS (with its port, if listed)."""
    scheme = urlsplit(url).scheme
    if scheme not in ("http", "https") or not _parsed_alike(url):
        return False
    host, port = _host_and_port(url)
    port = port or {"http": 80, "https": 443}[scheme]
    for entry in settings.IMPORT_PULL_HOSTS:
        listed_host, listed_port = _host_and_port(f"//{entry.strip()}")
        if host and listed_host == host and listed_port in (None, port):
            return True
    return False


def pull_host_check(url: str) -> None:
    """Raise PullHostRefused, naming the setting, unless ``url`` may be pulled."""
    if not pull_host_allowed(url):
        host, _ = _host_and_port(url)
        listed = ", ".join(settings.IMPORT_PULL_HOSTS) or "none"
        raise PullHostRefused(
            f"{host or url!r} is not a delivery host this portal pulls from "
            f"(GEOPORTAL_IMPORT_PULL_HOSTS lists: {listed})."
        )
