"""The npm files we serve ourselves (no CDN at run time), as STATICFILES_DIRS entries."""

from pathlib import Path

NODE_MODULES = Path(__file__).resolve().parent / "node_modules"

VENDOR_STATICFILES_DIRS: list[tuple[str, Path]] = []
