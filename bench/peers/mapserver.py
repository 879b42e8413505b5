"""MapServer 8 (Debian 12's mapserv) as persistent FastCGI processes under spawn-fcgi, behind
nginx on 127.0.0.1, rendering the parcel layer from PostGIS through a generated mapfile and
serving XYZ tiles in its tile mode (``mode=tile&tilemode=gmap&tile=x+y+z``)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from bench.peers.mapserver_style import mapserver_classes
from bench.peers.nginx import WORKER_USER, nginx_server
from bench.peers.processes import WORK_DIR
from bench.scratch_db import libpq_parameters

MAPSERV = Path("/usr/lib/cgi-bin/mapserv")
# One single-threaded mapserv per concurrent request of the load (8 connections; our web server has 2 × 8 threads).
PROCESSES = 8
PATH_TEMPLATE = "/parcels?mode=tile&tilemode=gmap&tile={x}+{y}+{z}&layers=parcels"
WORLD_HALF = 20037508.342789244
FONTS = {
    "sans": "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
    "sans-arabic": "/usr/share/fonts/truetype/noto/NotoSansArabic-Regular.ttf",
}


def mapserver_scale(zoom: float) -> float:
    """Return MapServer's scale denominator for a 256 px tile at ``zoom`` (72 dpi, its default)."""
    metres_per_pixel = 2 * WORLD_HALF / 256 / 2**zoom
    return metres_per_pixel * 72 / 0.0254


def mapserver_connection(database: str) -> str:
    parameters = {key: value for key, value in libpq_parameters(database).items() if value}
    return " ".join(f"{key}={value}" for key, value in parameters.items())


def parcels_layer_opening(database: str, data: str, srid: int) -> str:
    """The opening lines of the mapfile's LAYER "parcels", read from PostGIS (the tile and WFS peers share them)."""
    return f"""  LAYER
    NAME "parcels"
    TYPE POLYGON
    STATUS ON
    CONNECTIONTYPE POSTGIS
    CONNECTION "{mapserver_connection(database)}"
    DATA "{data}"
    # Keep the PostGIS connection open between requests of the same FastCGI process.
    PROCESSING "CLOSE_CONNECTION=DEFER"
    PROJECTION "init=epsg:{srid}" END
"""


def mapfile_write(folder: Path, database: str, *, name: str = "parcels.map", web: str = "") -> Path:
    """Write the parcels mapfile (our stylesheet's style, 8-bit PNG) and its configuration; ``web`` is
    a WEB block to add (the WMS peer's metadata), ``name`` the mapfile's name."""
    fontset = folder / "fonts.txt"
    fontset.write_text("".join(f"{font} {path}\n" for font, path in FONTS.items()), encoding="utf-8")
    mapfile = folder / name
    classes, columns = mapserver_classes(mapserver_scale)
    data = (
        f"geom_3857 from (SELECT id, {', '.join(columns)}, geom_3857 FROM layers_parcel "
        "WHERE status <> 'retired') AS parcels using unique id using srid=3857"
    )
    mapfile.write_text(
        f"""MAP
  NAME "parcels"
  EXTENT {-WORLD_HALF} {-WORLD_HALF} {WORLD_HALF} {WORLD_HALF}
  SIZE 256 256
  UNITS METERS
  FONTSET "{fontset}"
  IMAGETYPE "png"
  PROJECTION "init=epsg:3857" END
  # 8-bit palette PNG with transparency, as ours (Mapnik "png8:m=h").
  OUTPUTFORMAT
    NAME "png" DRIVER "AGG/PNG8" MIMETYPE "image/png" EXTENSION "png" IMAGEMODE RGBA TRANSPARENT ON
    FORMATOPTION "QUANTIZE_FORCE=on"
    FORMATOPTION "QUANTIZE_COLORS=256"
  END
{web}{parcels_layer_opening(database, data, 3857)}    LABELITEM "number"
{classes}  END
END
""",
        encoding="utf-8",
    )
    return mapserver_config_write(folder, mapfile)


def mapserver_config_write(folder: Path, mapfile: Path) -> Path:
    """Write the MapServer 8 configuration that pins every request to ``mapfile``."""
    config = folder / "mapserver.conf"
    config.write_text(
        f'CONFIG\n  ENV\n    MS_MAPFILE "{mapfile}"\n    MS_MAP_NO_PATH "1"\n  END\nEND\n', encoding="utf-8"
    )
    return config


def _fcgi_pids(pid_file: Path) -> list[int]:
    if not pid_file.exists():
        return []
    return [int(line) for line in pid_file.read_text().split() if line.strip().isdigit()]


def _fcgi_stop(pid_file: Path) -> None:
    """Stop the mapserv processes spawn-fcgi forked (their ids are in its pid file)."""
    pids = [pid for pid in _fcgi_pids(pid_file) if _is_mapserv(pid)]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while any(_is_mapserv(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in pids:
        if _is_mapserv(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    if pids:
        print(f"   stopped {len(pids)} mapserv FastCGI processes", flush=True)


def _is_mapserv(pid: int) -> bool:
    """True while ``pid`` is a live (not zombie) mapserv process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    name, state = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2]
    return name == "mapserv" and state != "Z"


@contextlib.contextmanager
def mapserver_server(database: str, mapfile: Callable[[Path, str], Path] = mapfile_write) -> Iterator[int]:
    """Run PROCESSES mapserv FastCGI processes behind nginx on the configuration ``mapfile`` writes
    (the tile mapfile by default); yield nginx's port. Requests go to ``/parcels?…``."""
    folder = WORK_DIR / "mapserver"
    folder.mkdir(parents=True, exist_ok=True)
    config = mapfile(folder, database)
    socket_path, pid_file = folder / "mapserv.sock", folder / "mapserv.pids"
    socket_path.unlink(missing_ok=True)
    pid_file.unlink(missing_ok=True)
    # mapserv keeps our account (as our web server does): the embedded cluster's socket folder lets in root, the
    # server and the service account's group alone. nginx's workers reach mapserv through the FastCGI socket given
    # to them.
    environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "MAPSERVER_CONFIG_FILE": str(config)}
    command = [
        "spawn-fcgi", "-s", str(socket_path), "-F", str(PROCESSES), "-P", str(pid_file),
        "-U", WORKER_USER, "-M", "0660", "--", str(MAPSERV),
    ]  # fmt: skip
    try:
        subprocess.run(command, env=environment, check=True, capture_output=True)  # noqa: S603
        locations = (
            "        location /parcels {\n"
            f"            fastcgi_pass unix:{socket_path};\n"
            "            include /etc/nginx/fastcgi_params;\n"
            "            fastcgi_buffer_size 64k;\n"
            "            fastcgi_buffers 16 64k;\n"
            "        }\n"
        )
        with nginx_server("mapserver-nginx", locations) as port:
            yield port
    finally:
        _fcgi_stop(pid_file)
