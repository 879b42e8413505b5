"""nginx on 127.0.0.1 with a generated configuration: the static-file floor for cached tiles,
and MapServer's FastCGI front. Its files (pid, logs, temp) stay under var/bench-tiles/."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from bench.peers.processes import LOOPBACK, WORK_DIR, free_port, server

WORKERS = 2  # one per core, nginx's own advice ("auto")
# Debian's nginx package creates this account; workers drop root for it.
WORKER_USER = "www-data"

CONFIG = """
user {user};
worker_processes {workers};
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    open_file_cache max=10000 inactive=60s;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    types {{ application/vnd.mapbox-vector-tile mvt; image/png png; }}
    default_type application/octet-stream;
    server {{
        listen {host}:{port};
{locations}
    }}
}}
"""


@contextlib.contextmanager
def nginx_server(name: str, locations: str) -> Iterator[int]:
    """Run nginx with ``locations`` (server-block directives); yield its port."""
    prefix = WORK_DIR / name
    (prefix / "tmp").mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = prefix / "nginx.conf"
    config.write_text(
        CONFIG.format(user=WORKER_USER, workers=WORKERS, prefix=prefix, host=LOOPBACK, port=port, locations=locations),
        encoding="utf-8",
    )
    command = ["nginx", "-p", str(prefix), "-c", str(config), "-e", str(prefix / "error.log")]
    with server(name, command, ready_url=f"http://{LOOPBACK}:{port}/", cwd=Path(prefix)):
        yield port


def static_locations(root: Path) -> str:
    """Serve files under ``root`` as they are (the floor: no application code at all)."""
    return f"        root {root};\n        location / {{ try_files $uri =404; }}\n"
