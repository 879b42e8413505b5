"""A department's WFS for the tests: Debian's MapServer 8 (``mapserv``, run as CGI for each request)
serving the layers of a GeoPackage, behind a small HTTP server on 127.0.0.1.

The HTTP server only passes the query string to ``mapserv`` and its answer back; every WFS answer
(capabilities, features, paging, exceptions) is MapServer's own.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

MAPSERV = shutil.which("mapserv") or "/usr/bin/mapserv"
GEOMETRY_TYPES = {"streets": "LINE", "landmarks": "POINT"}  # MapServer layer types; the others are polygons


@dataclass
class Wfs:
    url: str  # the endpoint, as a department would give it
    requested: list[str] = field(default_factory=list)  # the query strings MapServer was given


def mapfile_write(folder: Path, gpkg: Path, layers: list[str], *, srid: int, max_features: int | None) -> Path:
    """A mapfile publishing each layer of ``gpkg`` as a WFS feature type of the same name; with
    ``max_features``, MapServer sends at most that many features a request, whatever COUNT says."""
    cap = f' "wfs_maxfeatures" "{max_features}"' if max_features else ""
    blocks = "".join(
        f"""  LAYER
    NAME "{layer}"
    TYPE {GEOMETRY_TYPES.get(layer, "POLYGON")}
    CONNECTIONTYPE OGR
    CONNECTION "{gpkg}"
    DATA "{layer}"
    PROJECTION "init=epsg:{srid}" END
    METADATA "wfs_title" "{layer}" "gml_include_items" "all" END
  END
"""
        for layer in layers
    )
    mapfile = folder / "department.map"
    mapfile.write_text(
        f"""MAP
  NAME "department"
  EXTENT -180 -90 4000000 4000000
  PROJECTION "init=epsg:{srid}" END
  WEB
    METADATA "wfs_title" "Department" "wfs_srs" "EPSG:{srid}" "wfs_enable_request" "*"{cap} END
  END
{blocks}END
""",
        encoding="utf-8",
    )
    config = folder / "mapserver.conf"
    config.write_text(f'CONFIG\n  ENV\n    MS_MAPFILE "{mapfile}"\n    MS_MAP_NO_PATH "1"\n  END\nEND\n')
    return config


@contextmanager
def mapserver_wfs(
    folder: Path, gpkg: Path, layers: list[str], *, srid: int = 31901, max_features: int | None = None
) -> Iterator[Wfs]:
    """Serve ``layers`` of ``gpkg`` over WFS on 127.0.0.1; yield its endpoint."""
    config = mapfile_write(folder, gpkg, layers, srid=srid, max_features=max_features)
    wfs = Wfs(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            query = urlsplit(self.path).query
            wfs.requested.append(query)
            environment = {
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "MAPSERVER_CONFIG_FILE": str(config),
                "REQUEST_METHOD": "GET",
                "QUERY_STRING": query,
                "SERVER_NAME": "127.0.0.1",
                "SERVER_PORT": str(self.server.server_address[1]),
                "SCRIPT_NAME": urlsplit(self.path).path,
            }
            answer = subprocess.run([MAPSERV], env=environment, capture_output=True, check=False).stdout
            head, _, body = answer.partition(b"\r\n\r\n")
            headers = dict(line.split(": ", 1) for line in head.decode("latin-1").split("\r\n") if ": " in line)
            self.send_response(int(headers.pop("Status", "200").split()[0]))
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *arguments):  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    wfs.url = f"http://127.0.0.1:{server.server_address[1]}/wfs?department=survey"  # its own parameter kept
    try:
        yield wfs
    finally:
        server.shutdown()
        server.server_close()
