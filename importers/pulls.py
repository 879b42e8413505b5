"""Downloads of scheduled pulls: plain HTTP(S) GETs, only from the listed hosts (pull_hosts.py), each
redirect checked, within IMPORT_PULL_MAX_BYTES and IMPORT_PULL_TIMEOUT_SECONDS in all."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import requests
from django.conf import settings

from geoportal.errors import DomainError

from .jobs import DeliveryTooLarge
from .pull_hosts import pull_host_check

DOWNLOAD_CHUNK_BYTES = 64 << 10  # the deadline is checked after each chunk
PULL_MAX_REDIRECTS = 5


class DeliveryUnavailable(DomainError):
    status = 502
    code = "DeliveryUnavailable"


@dataclass
class PullBudget:
    """What a pull may still take: bytes, and time until its deadline (shared by all its requests)."""

    bytes_left: int
    deadline: float
    timeout: float

    @classmethod
    def from_settings(cls) -> PullBudget:
        timeout = settings.IMPORT_PULL_TIMEOUT_SECONDS
        return cls(settings.IMPORT_PULL_MAX_BYTES, time.monotonic() + timeout, timeout)

    def seconds_left(self) -> float:
        """What is left of the time (a request's socket timeout); a pull past its deadline stops."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise DeliveryUnavailable(f"the pull took more than {self.timeout:g} s.")
        return left


def _response_followed(url: str, *, budget: PullBudget) -> requests.Response:
    """GET ``url``, following at most PULL_MAX_REDIRECTS redirects, each to a listed host (pull_hosts.py)."""
    for _ in range(PULL_MAX_REDIRECTS + 1):
        pull_host_check(url)
        response = requests.get(url, stream=True, timeout=budget.seconds_left(), allow_redirects=False)
        if not response.is_redirect:
            return response
        response.close()
        url = urljoin(url, response.headers["Location"])
    raise DeliveryUnavailable(f"more than {PULL_MAX_REDIRECTS} redirects.")


def delivery_download(*, url: str, target: Path, budget: PullBudget | None = None, error_bodies: bool = False) -> int:
    """Download ``url`` (http or https, from a host in IMPORT_PULL_HOSTS) to ``target``, within
    ``budget`` (by default a new one: IMPORT_PULL_MAX_BYTES, IMPORT_PULL_TIMEOUT_SECONDS), take what
    it received from the budget, and return the HTTP status. A status other than 200 is an error,
    unless ``error_bodies``: then its body is stored too, for the caller to read (a WFS says why in
    it). A partial file is removed by ``job_delivery_store``."""
    budget = budget or PullBudget.from_settings()
    limit, timeout = settings.IMPORT_PULL_MAX_BYTES, budget.timeout
    if urlsplit(url).scheme not in ("http", "https"):  # requests refuses others too, also on redirects
        raise DeliveryUnavailable(f"{url}: only http and https URLs are pulled.")
    try:
        with _response_followed(url, budget=budget) as response:
            if response.status_code != 200 and not error_bodies:
                raise DeliveryUnavailable(f"{url}: HTTP {response.status_code} {response.reason}.")
            declared = int(response.headers.get("Content-Length") or 0)  # not a number: ValueError below
            if declared > budget.bytes_left:
                raise DeliveryTooLarge(f"{url}: {declared:,} bytes; at most {limit:,} are pulled.")
            received = 0
            with open(target, "xb") as stored:
                for chunk in response.iter_content(DOWNLOAD_CHUNK_BYTES):
                    received += len(chunk)
                    if received > budget.bytes_left:
                        raise DeliveryTooLarge(f"{url}: more than {limit:,} bytes; at most {limit:,} are pulled.")
                    if time.monotonic() > budget.deadline:
                        raise DeliveryUnavailable(f"{url}: the download took more than {timeout:g} s.")
                    stored.write(chunk)
    except requests.RequestException as error:
        raise DeliveryUnavailable(f"{url}: {error}") from error
    except ValueError as error:  # a malformed Location or Content-Length
        raise DeliveryUnavailable(f"{url}: a malformed answer ({error}).") from error
    budget.bytes_left -= received
    return response.status_code
