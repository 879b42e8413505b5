"""Start and stop the private Redis in ``var/redis`` (unix socket only)."""

from __future__ import annotations

import os
import socket
import subprocess
import time

from . import paths
from .account import account_file_made, answered_as_service_account, as_service_account, service_account
from .postgres import EmbeddedServiceError

REDIS_SERVER = "redis-server"
PID_FILE = paths.REDIS_SOCKET.parent / "redis.pid"


def _config() -> str:
    return "\n".join(
        [
            "port 0",
            f"unixsocket {paths.REDIS_SOCKET}",
            "unixsocketperm 700",
            f"dir {paths.REDIS_DIR}",
            f"pidfile {PID_FILE}",
            f"logfile {paths.LOG_DIR / 'redis.log'}",
            "daemonize yes",
            # Broker queues and the tile-freshness state must survive a restart.
            "appendonly yes",
            "maxmemory-policy noeviction",
            "",
        ]
    )


def _said(command: bytes, answer: bytes) -> bool:
    """Send ``command`` on Redis's socket; tell whether Redis's reply starts with ``answer`` (or it took the command,
    when ``answer`` is empty: SHUTDOWN closes the connection without one)."""
    try:  # no socket (Redis down), or one the account may not open, is an OSError too
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.settimeout(1.0)
            client.connect(str(paths.REDIS_SOCKET))
            client.sendall(command)
            return not answer or client.recv(16).startswith(answer)
    except OSError:
        return False


def redis_ping() -> bool:
    """Tell whether Redis answers PING on its socket. Asked as the service account when started by root: the socket's
    folder is the account's, and a link it put in the socket's place would have root ask another server."""
    return answered_as_service_account(lambda: _said(b"PING\r\n", b"+PONG"))


def redis_start() -> None:
    """Start Redis and wait until it answers."""
    for folder in (paths.REDIS_DIR, paths.REDIS_SOCKET.parent, paths.LOG_DIR):
        folder.mkdir(parents=True, exist_ok=True)  # started by root, account.var_hand_over made them
    os.close(account_file_made(paths.LOG_DIR / "redis.log", service_account()))  # for Redis to write, in root's folder
    paths.REDIS_CONF.write_text(_config(), encoding="utf-8")
    subprocess.run([REDIS_SERVER, str(paths.REDIS_CONF)], check=True, stdout=subprocess.DEVNULL, **as_service_account())
    for _attempt in range(100):
        if redis_ping():
            return
        time.sleep(0.1)
    raise EmbeddedServiceError(f"Redis did not start; see {paths.LOG_DIR / 'redis.log'}")


def redis_stop() -> None:
    """Ask Redis to shut down (it saves first) and wait for its socket to go."""
    if not redis_ping():
        return
    answered_as_service_account(lambda: _said(b"SHUTDOWN\r\n", b""))  # as redis_ping
    for _attempt in range(100):
        if not redis_ping():
            return
        time.sleep(0.1)
