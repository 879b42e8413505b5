"""The front server: nginx before the portal, answering published tiles from disk by itself.

``./portal run`` starts it (geoportal/embedded), the tests start it (tests/tiles/test_publication.py)
and so does the benchmark: one configuration, made here. Everything that is not a published tile
goes to the portal (granian), with the client's address in X-Forwarded-For (so PROXY_HOPS = 1).

Published tiles (tiles/publication.py) are removed before a change commits, so nginx must look at
the disk on every request: no ``open_file_cache`` here, which would keep serving a removed file. An
empty vector tile's marker (``<y>.mvt.empty``) is answered with 204, as the portal answers it.
"""

from __future__ import annotations

import getpass
import shutil
from pathlib import Path

# What a tile URL looks like, as tiles/views.py TILE_PATTERN, for the layers (imagery never has a file).
PUBLISHED_TILE = r"^/tiles/(?<tile>[a-z_]{1,40}/[0-9]{1,2}/[0-9]{1,8}/[0-9]{1,8}(@2x)?\.(png|mvt))$"
# Room for the multipart form around an upload of IMPORT_UPLOAD_MAX_BYTES (the portal checks that cap
# itself and answers 413 in JSON; nginx's own limit only stops what the portal would refuse anyway).
UPLOAD_SLACK_BYTES = 1 << 20

CONFIG = """\
user {user};
worker_processes {workers};
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log {access_log};
    sendfile on;
    tcp_nopush on;
    server_tokens off;
    keepalive_requests 10000;
    client_max_body_size {upload_limit};
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    default_type application/octet-stream;
    upstream portal {{
        server {upstream};
        keepalive 32;
    }}
    server {{
        listen {listen};
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $http_host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_read_timeout 300s;
        proxy_buffering off;
{tile_location}
        location / {{ proxy_pass http://portal; }}
        location @portal {{
{vector_tile_gzip}
            proxy_pass http://portal;
        }}
    }}
}}
"""
TILE_LOCATION = """\
        location ~ "{pattern}" {{
            root "{publish_dir}";
            types {{ application/vnd.mapbox-vector-tile mvt; image/png png; }}
            add_header Cache-Control "public, no-cache" always;
            add_header Access-Control-Allow-Origin "*" always;
            add_header X-Content-Type-Options nosniff always;
            add_header X-Tile-Source published always;
            # nginx's validators (ETag: the file's time and size; If-Modified-Since: its time, exactly)
            # follow a tile's content: its time is taken from its CRC-32 (tiles/publication.py).
            etag on;
            if_modified_since exact;
            # Only GET and HEAD read a tile; the portal refuses any other method (its JSON 405 with Allow), where
            # nginx would answer a published tile's POST with its HTML 405, and an empty tile's with the 204.
            if ($request_method !~ ^(GET|HEAD)$) {{ return 405; }}
            error_page 405 = @portal;
            # An empty vector tile, published as a marker beside its path (tiles/publication.py).
            if (-f "{publish_dir}/$tile.empty") {{ return 204; }}
{vector_tile_gzip}
            try_files /$tile @portal;
        }}"""
# Vector tiles compressed for the clients that ask (browsers do): at level 1 the demo's tiles are 47 % of their size,
# for about 0.3 ms of a worker's time. Only in the tile locations (gzip compresses text/html wherever it is on): a
# tile holds no secret and reflects no input, so compression cannot leak one (BREACH). A PNG is compressed already.
# The ETag becomes weak (W/"…"); nginx and the portal both match it when a browser revalidates.
VECTOR_TILE_GZIP = """\
            gzip on;
            gzip_types application/vnd.mapbox-vector-tile;
            gzip_comp_level 1;
            gzip_min_length 256;
            gzip_proxied any;
            gzip_vary on;"""


def nginx_binary() -> str:
    """Debian's nginx (ops/bootstrap.sh installs it)."""
    for candidate in (shutil.which("nginx"), "/usr/sbin/nginx"):
        if candidate and Path(candidate).exists():
            return candidate
    raise FileNotFoundError("nginx is not installed: run ops/bootstrap.sh (Debian package nginx).")


def front_config(
    *,
    prefix: Path,
    listen: str,
    upstream: str,
    publish_dir: Path | None,
    upload_max_bytes: int = 2 << 30,
    workers: int = 2,
    access_log: bool = True,
    user: str | None = None,
) -> Path:
    """Write the front server's configuration under ``prefix``; return its path.

    ``upstream`` is the portal's address for nginx: ``unix:/path.sock`` or ``host:port``.
    Without ``publish_dir`` every request goes to the portal. ``user``: the workers' account when nginx is started by
    root (by default, whoever runs this).
    """
    (prefix / "tmp").mkdir(parents=True, exist_ok=True)
    tile_location = (
        TILE_LOCATION.format(pattern=PUBLISHED_TILE, publish_dir=publish_dir, vector_tile_gzip=VECTOR_TILE_GZIP)
        if publish_dir
        else ""
    )
    config = prefix / "nginx.conf"
    written = prefix / "nginx.conf.new"  # then renamed over: a new file of this process's, not one kept from before
    written.unlink(missing_ok=True)
    written.write_text(
        CONFIG.format(
            # Workers run as the account that runs the portal (by default whoever starts it), so they read what it
            # publishes and reach its socket (and no more).
            user=user or getpass.getuser(),
            workers=workers,
            prefix=prefix,
            access_log=f"{prefix}/access.log" if access_log else "off",
            upload_limit=upload_max_bytes + UPLOAD_SLACK_BYTES,
            upstream=upstream,
            listen=listen,
            tile_location=tile_location,
            vector_tile_gzip=VECTOR_TILE_GZIP,
        ),
        encoding="utf-8",
    )
    written.replace(config)
    return config


def front_command(config: Path) -> list[str]:
    prefix = config.parent
    return [nginx_binary(), "-p", str(prefix), "-c", str(config), "-e", str(prefix / "error.log")]
