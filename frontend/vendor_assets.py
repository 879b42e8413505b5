"""The npm files we serve ourselves (no CDN at run time), as STATICFILES_DIRS entries.

Only folders of built files are listed, never a whole package: collectstatic copies (and
WhiteNoise compresses) every file it finds. ``npm ci`` in frontend/ installs the exact versions
of package-lock.json and runs vendor-files.mjs, which gathers the loose built files (ol.css).
A missing folder is reported by Django's check framework (staticfiles.W004): run ``npm ci``.
"""

from pathlib import Path

NODE_MODULES = Path(__file__).resolve().parent / "node_modules"

VENDOR_STATICFILES_DIRS: list[tuple[str, Path]] = [
    ("vendor/ol", NODE_MODULES / "ol" / "dist"),
    ("vendor/ol-css", NODE_MODULES / ".vendor" / "ol-css"),
    ("vendor/leaflet", NODE_MODULES / "leaflet" / "dist"),
]
