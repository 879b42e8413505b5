"""What ogr2ogr's failure to stage a delivery file says, in words for the report: the delivery's problem, or the
server's own database unreachable; never the server's connection string or folders."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import NoReturn

from geoportal.errors import InvalidInput

# What GDAL's PostgreSQL driver says when it cannot connect (a "PG:…" datasource it then fails to "create"): the
# first error ogr2ogr reports, since it connects before it reads a feature. A delivered value that a later error
# quotes (PostgreSQL's "CONTEXT: COPY …, column …: "…"") may hold a newline and these words after it.
OGR_PG_UNREACHABLE = re.compile(r"ERROR 1: (PQconnectdb failed|PostgreSQL driver failed to create PG:)")
OGR_PG_DATASOURCE = re.compile(r"PG:[^\n]*")


class StagingDatabaseUnreachable(RuntimeError):
    """ogr2ogr could not connect to the database: the server's failure, not the delivery's (not a DomainError, so a
    job fails on it and the delivery is not rejected into quarantine)."""


def path_spellings(path: Path) -> list[str]:
    """``path`` as written and as resolved (under a temporary folder that is a link, what rasterio and a resolved
    document name), the longer first: a link's target may end with the link's own path (/tmp → /var/tmp), and the
    shorter replaced first would leave the start of the longer behind."""
    return sorted({str(path), str(path.resolve())}, key=len, reverse=True)


def staging_failed(path: Path, layer: str, stderr: str) -> NoReturn:
    """Raise why ogr2ogr could not stage ``layer``: the delivery's problem, or the database's unreachability."""
    # Neither the server's connection string (its password, if it has one) nor where it keeps the file (named before
    # the message is cut, which could leave part of a path that importers/base.py's _named_as_delivered would no
    # longer recognise).
    said = OGR_PG_DATASOURCE.sub("the staging database", stderr.strip())
    for folder in path_spellings(path.parent):
        said = said.replace(folder + os.sep, "")  # the file, or one beside it (survey.dbf), by its name
    first_error = next((line for line in stderr.splitlines() if line.startswith("ERROR")), "")
    if OGR_PG_UNREACHABLE.match(first_error):
        raise StagingDatabaseUnreachable(f"ogr2ogr could not connect to the database: {said[:1000]}")
    raise InvalidInput(f"{path.name} layer '{layer}': GDAL could not read it: {said[:500]}")
