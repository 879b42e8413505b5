"""README, Operations, Backups: the two lines that make a backup of the embedded cluster work as written."""

from __future__ import annotations

import re
import subprocess

from django.conf import settings

BACKUP_BLOCK = re.compile(r"- \*\*Backups\*\*.*?```sh\n(?P<lines>.*?)```", re.DOTALL)


def test_the_readme_s_backup_lines_make_a_dump_of_the_portal_s_database(tmp_path):
    """They named the socket's folder as var/run/pg, which libpq takes for a host name: pg_dump failed and the
    shell's redirection had left an empty backup.dump."""
    readme = (settings.BASE_DIR / "README.md").read_text(encoding="utf-8")
    lines = BACKUP_BLOCK.search(readme)["lines"].replace("./portal", str(settings.BASE_DIR / "portal"))

    made = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", lines], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    listed = subprocess.run(
        ["pg_restore", "--list", str(tmp_path / "backup.dump")], capture_output=True, text=True, check=False
    )

    assert made.returncode == 0, made.stderr[-2000:]
    assert listed.returncode == 0, listed.stderr
    assert "DATABASE - geoportal" in listed.stdout or "dbname: geoportal" in listed.stdout
