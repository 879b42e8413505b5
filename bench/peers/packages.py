"""Install what the tile benchmarks need on Debian 12, if missing (the benchmark is not in CI,
so ``ops/bootstrap.sh`` does not carry these)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from bench.harness import BENCH_DIR

DEBIAN_PACKAGES = (
    "mapserver-bin",  # mapserv 8.0 with FastCGI and PostGIS input
    "cgi-mapserver",
    "spawn-fcgi",  # keeps mapserv FastCGI processes alive (no process per request)
    "nginx",  # the static-file floor and MapServer's front
    "wrk",  # the HTTP load generator
    "fonts-noto-core",  # MapServer's label font
)
# tipg's pins (FastAPI, pydantic 2, asyncpg) clash with the project's .venv: it gets its own.
# uvicorn[standard] (httptools, uvloop) as in production: with plain uvicorn's h11 protocol, every
# response on a kept-alive connection stalled 40 ms (body held back until the client's delayed ACK).
TIPG_REQUIREMENTS = ("tipg==1.6.1", "uvicorn[standard]==0.54.0")
VENVS_DIR = BENCH_DIR.parent / "var" / "bench-venvs"
TIPG_VENV = VENVS_DIR / "tipg"
POLICY_RC = Path("/usr/sbin/policy-rc.d")


def debian_missing() -> list[str]:
    missing = []
    for package in DEBIAN_PACKAGES:
        status = subprocess.run(
            ["dpkg-query", "-W", "-f=${db:Status-Status}", package], capture_output=True, text=True, check=False
        )
        if status.stdout.strip() != "installed":
            missing.append(package)
    return missing


def debian_install(packages: list[str]) -> None:
    """Install without letting the nginx package start its system service on 0.0.0.0:80."""
    if os.geteuid() != 0:
        raise RuntimeError(f"Missing Debian packages: {' '.join(packages)}. Install them as root.")
    own_policy = not POLICY_RC.exists()
    if own_policy:  # invoke-rc.d asks this script; 101 means "do not start services"
        POLICY_RC.write_text("#!/bin/sh\nexit 101\n", encoding="utf-8")
        POLICY_RC.chmod(0o755)
    try:
        environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-q"], check=True, env=environment)
        subprocess.run(
            ["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages], check=True, env=environment
        )
    finally:
        if own_policy:
            POLICY_RC.unlink()


def tipg_install() -> Path:
    """Create the tipg virtualenv (pinned) if needed; return its bin folder."""
    python = TIPG_VENV / "bin" / "python"
    stamp = TIPG_VENV / ".requirements"
    wanted = "\n".join(TIPG_REQUIREMENTS)
    if not python.exists():
        subprocess.run(["python3", "-m", "venv", str(TIPG_VENV)], check=True)
    if not stamp.exists() or stamp.read_text(encoding="utf-8") != wanted:
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *TIPG_REQUIREMENTS],
            check=True,
        )
        stamp.write_text(wanted, encoding="utf-8")
    return TIPG_VENV / "bin"


def peer_packages_ensure() -> None:
    """Install the Debian packages and the tipg virtualenv the tile benchmarks need, if missing."""
    missing = debian_missing()
    if missing:
        debian_install(missing)
    for tool in ("wrk", "nginx", "spawn-fcgi"):
        if shutil.which(tool) is None and not Path("/usr/sbin", tool).exists():
            raise RuntimeError(f"{tool} is not on PATH after installing {', '.join(DEBIAN_PACKAGES)}.")
    tipg_install()
