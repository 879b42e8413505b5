"""A scheduled pull from a department's WFS: each layer's features, page by page, made into the
delivery file its source expects (``file_name``: survey.gpkg, planning.gpkg, governorates.geojson),
then imported like any other delivery.

The requests are WFS 2.0.0 GetFeature, paged with COUNT and STARTINDEX, in the server's own default
output (GML 3.2, the format every WFS 2.0 server must offer) and the CRS the server declares, which
the importer then checks and reprojects as it does for any file. They go through ``pulls.py``: only
to a listed host, every redirect checked, within one byte and time budget for the whole pull.

GDAL reads the pages from local files only: it is told not to download the schema the GML points
to (GML_DOWNLOAD_WFS_SCHEMA=NO) nor to resolve xlinks, so a server cannot make it fetch anything.
Without the schema GDAL guesses field types from the values; whole numbers are kept as text, as
keys such as block numbers are text in every delivery.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import urlencode, urlsplit, urlunsplit

from geoportal.errors import InvalidInput

from .pulls import DeliveryUnavailable, PullBudget, delivery_download
from .staging import GDAL_SAFETY_CONFIG

WFS_PAGE_FEATURES = 5000
WFS_MAX_PAGES = 1000  # 5,000,000 features a layer
# What GDAL may do while it reads a page: nothing over the network.
GML_READING = ("--config", "GML_DOWNLOAD_WFS_SCHEMA", "NO", "--config", "GML_SKIP_RESOLVE_ELEMS", "ALL")
NUMBER_RETURNED = re.compile(rb'numberReturned="(\d+)"')
# The document's first element, after the XML declaration, comments and white space.
# No DOCTYPE is allowed before it: a WFS has no use for one, and its entities are how XML bombs work.
# A comment cannot hold "-->", so each is matched one way only (no backtracking blow-up).
ROOT_ELEMENT = re.compile(
    rb"^(?:\xef\xbb\xbf)?\s*(?:<\?xml[^>]*\?>\s*)?(?:<!--(?:[^-]|-(?!->))*-->\s*)*<(?:\w+:)?FeatureCollection[\s>]"
)
NUMBER_MATCHED = re.compile(rb'numberMatched="(\d+)"')
EXCEPTION_TEXT = re.compile(rb"<(?:\w+:)?ExceptionText>(.*?)</(?:\w+:)?ExceptionText>", re.S)
TYPE_NAME = re.compile(r"^[A-Za-z_][\w.-]*(:[A-Za-z_][\w.-]*)?$")  # an XML qualified name
HEAD_BYTES = 4096  # where the root element's numberReturned, or an exception, is


def wfs_source_layers(source: str) -> tuple[str, ...]:
    """The layers a WFS pull may bring for ``source``: those of a vector source (not permits, not imagery)."""
    from . import sources  # noqa: F401 - registers the sources
    from .base import SOURCES
    from .sources.vector import VectorDeliverySource

    source_class = SOURCES.get(source)
    if source_class is None or not issubclass(source_class, VectorDeliverySource):
        raise InvalidInput(f"a WFS pull brings vector layers; the source '{source}' takes none.")
    return tuple(spec.layer for spec in source_class.specs)


def wfs_delivery_file_name(source: str) -> str:
    """The file a WFS pull makes for ``source``, as that source expects it (e.g. survey.gpkg)."""
    from .base import SOURCES

    return SOURCES[source].file_name


def wfs_layers_parse(text: str, *, layers: tuple[str, ...]) -> dict[str, str]:
    """Return {our layer: the WFS feature type name} from lines ``layer=TypeName``; refuse what is wrong."""
    found: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        layer, equals, type_name = (part.strip() for part in line.partition("="))
        if not equals or not TYPE_NAME.match(type_name):
            raise InvalidInput(f"line {number}: expected layer=TypeName (e.g. parcels=survey:parcels).")
        if layer not in layers:
            raise InvalidInput(
                f"line {number}: '{layer}' is not a layer of this source; its layers: {', '.join(layers)}."
            )
        if layer in found:
            raise InvalidInput(f"line {number}: the layer '{layer}' is named twice.")
        found[layer] = type_name
    if not found:
        raise InvalidInput("name at least one layer, as layer=TypeName.")
    return found


def get_feature_url(endpoint: str, type_name: str, *, start: int) -> str:
    """The GetFeature request of one page, on ``endpoint`` (its own query parameters kept, ours replacing theirs)."""
    parts = urlsplit(endpoint)
    ours = {"SERVICE": "WFS", "VERSION": "2.0.0", "REQUEST": "GetFeature", "TYPENAMES": type_name}
    ours |= {"COUNT": str(WFS_PAGE_FEATURES), "STARTINDEX": str(start)}
    kept = [pair for pair in parts.query.split("&") if pair and pair.split("=", 1)[0].upper() not in ours]
    return urlunsplit(parts._replace(query="&".join([*kept, urlencode(ours)])))


def _features_returned(page: Path, url: str, status: int) -> tuple[int, int | None]:
    """How many features the page says it holds. A WFS exception report, another HTTP status, or
    anything but a WFS 2.0 FeatureCollection (which GDAL would open with some other driver: an
    OGRWFSDataSource document, say, that makes it fetch a URL) is the pull's error."""
    with open(page, "rb") as file:
        head = file.read(HEAD_BYTES)
    root = ROOT_ELEMENT.match(head)
    if root is None or status != 200:
        exception = EXCEPTION_TEXT.search(head)
        if exception:
            text = exception.group(1).decode("utf-8", "replace").strip()[:300]
            raise DeliveryUnavailable(f"{url}: the WFS answered with an exception: {text}")
        if status != 200:
            raise DeliveryUnavailable(f"{url}: HTTP {status}.")
    returned = NUMBER_RETURNED.search(head)
    if root is None or returned is None:
        raise DeliveryUnavailable(f"{url}: not a WFS 2.0 FeatureCollection with numberReturned.")
    matched = NUMBER_MATCHED.search(head)  # or "unknown" (MapServer)
    return int(returned.group(1)), int(matched.group(1)) if matched else None


def _gdal_said(stderr: str, *folders: Path) -> str:
    """GDAL's message, its files named without the server's folders (the pull's scratch folder, the job's): the job's
    report shows it to the department's tools."""
    for folder in folders:
        stderr = stderr.replace(f"{folder}/", "")
    return stderr.strip()[:300]


def _page_append(page: Path, gpkg: Path, layer: str) -> None:
    command = [
        "ogr2ogr", *GDAL_SAFETY_CONFIG, *GML_READING, "-oo", "WRITE_GFS=NO", "-f", "GPKG", "-append",
        # Every field as text, and fields a later page brings added: the first page must not decide
        # types (a later "abc" in a Real column would become 0) nor columns (an attribute empty on it).
        "-forceNullable", "-addfields", "-mapFieldType", "All=String", "-nln", layer, str(gpkg), str(page),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603 - fixed command
    if result.returncode != 0:
        said = _gdal_said(result.stderr, page.parent, gpkg.parent)
        raise DeliveryUnavailable(f"layer '{layer}': GDAL could not read a page: {said}")


def _layer_pull(endpoint: str, type_name: str, layer: str, *, gpkg: Path, scratch: Path, budget: PullBudget) -> int:
    """Append every page of ``type_name`` to the GeoPackage's ``layer``; return the features pulled."""
    pulled = 0
    for number in range(WFS_MAX_PAGES):
        url = get_feature_url(endpoint, type_name, start=pulled)
        page = scratch / f"{layer}-{number:04d}.gml"
        status = delivery_download(url=url, target=page, budget=budget, error_bodies=True)
        returned, matched = _features_returned(page, url, status)
        if returned:
            _page_append(page, gpkg, layer)
        page.unlink()
        pulled += returned
        # Pages may be shorter than COUNT (servers cap them): only an empty page, or reaching what the
        # server says matched, ends the layer. More than COUNT: a server that ignores COUNT sent it all.
        if returned == 0 or returned > WFS_PAGE_FEATURES or (matched is not None and pulled >= matched):
            if matched is not None and pulled != matched:
                raise DeliveryUnavailable(f"{type_name}: the WFS matched {matched:,} features and sent {pulled:,}.")
            return pulled
    raise DeliveryUnavailable(f"{type_name}: more than {WFS_MAX_PAGES * WFS_PAGE_FEATURES:,} features.")


def wfs_delivery_download(*, endpoint: str, type_names: dict[str, str], target: Path) -> dict[str, int]:
    """Pull each layer's features from the WFS at ``endpoint`` into ``target`` (a .gpkg, or a .geojson
    of one layer); return the features pulled per layer."""
    budget = PullBudget.from_settings()
    pulled: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="wfs-pull-") as folder:
        scratch = Path(folder)
        gpkg = target if target.suffix.lower() == ".gpkg" else scratch / "pulled.gpkg"
        for layer, type_name in type_names.items():
            pulled[layer] = _layer_pull(endpoint, type_name, layer, gpkg=gpkg, scratch=scratch, budget=budget)
        if not gpkg.exists():
            raise DeliveryUnavailable(f"{endpoint}: the WFS returned no features for {', '.join(type_names.values())}.")
        if gpkg != target:
            command = ["ogr2ogr", *GDAL_SAFETY_CONFIG, "-f", "GeoJSON", str(target), str(gpkg)]
            result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603 - our own file
            if result.returncode != 0:
                said = _gdal_said(result.stderr, scratch, target.parent)
                raise DeliveryUnavailable(f"{target.name} could not be written: {said}")
    return pulled
