"""README, Operations, Backups: the two lines that make a backup of the embedded cluster work as written."""

from __future__ import annotations

import os
import re
import subprocess
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

BACKUP_BLOCK = re.compile(r"- \*\*Backups\*\*.*?```sh\n(?P<lines>.*?)```", re.DOTALL)


@pytest.mark.django_db
def test_the_readme_s_backup_lines_make_a_dump_of_the_portal_s_database(tmp_path):
    """They named the socket's folder as var/run/pg, which libpq takes for a host name: pg_dump failed and the
    shell's redirection had left an empty backup.dump. Run on the test database: ./portal up names back the database
    the environment names, as it would the embedded one."""
    database = connection.settings_dict
    test_database_url = f"postgis://{database['USER']}@{quote(database['HOST'], safe='')}/{database['NAME']}"
    readme = (settings.BASE_DIR / "README.md").read_text(encoding="utf-8")
    lines = BACKUP_BLOCK.search(readme)["lines"].replace("./portal", str(settings.BASE_DIR / "portal"))

    environment = {**os.environ, "DATABASE_URL": test_database_url}

    made = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", lines], cwd=tmp_path, env=environment, capture_output=True, text=True
    )
    listed = subprocess.run(
        ["pg_restore", "--list", str(tmp_path / "backup.dump")], capture_output=True, text=True, check=False
    )

    assert made.returncode == 0, made.stderr[-2000:]
    assert listed.returncode == 0, listed.stderr
    assert f"dbname: {database['NAME']}" in listed.stdout
