"""``python -m bench.peers.timed_resync DELIVERY``: in a fresh process against DATABASE_URL, time
``import_delivery("survey", DELIVERY)`` end to end, and print one JSON line: the seconds, the phases
(from ``progress``), the report's counts, the change events written, the commit (with the tile
invalidation of tiles/publication.py before it) and the slowest SQL statements.

Nothing of the import is replaced: the timings come from Django's ``execute_wrapper`` (every SQL
statement), and from wrappers around the before-commit hooks, ``published_remove`` and the commit.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "geoportal.settings")

SLOWEST = 12


def _label(sql: str) -> str:
    """A short, stable name for a statement: its start and its condition, staging table tokens removed."""
    text = re.sub(r"\s+", " ", sql).strip()
    text = re.sub(r"_[0-9a-f]{8}(?=\b|_)", "_…", text)
    head, _, condition = text.partition(" WHERE ")
    return f"{head[:70]} … WHERE {condition[:90]}" if condition and len(text) > 160 else text[:160]


def _auto_explain(connection) -> list:
    """With BENCH_RESYNC_EXPLAIN=MS (a diagnosis, not a measurement: it slows every statement), have
    auto_explain send the plan, with actual times, of each statement over MS milliseconds. Only the cluster's
    superuser may load it and set it, and the import runs as the portal's role (README, "Database roles"), so first,
    as root, ``psql -h <socket folder> -U postgres -d postgres`` with
    ``ALTER ROLE geoportal SET session_preload_libraries = 'auto_explain'`` and ``GRANT SET ON PARAMETER
    auto_explain.log_min_duration, auto_explain.log_analyze, auto_explain.log_buffers,
    auto_explain.log_nested_statements TO geoportal`` (``ALTER ROLE geoportal RESET session_preload_libraries`` and
    ``REVOKE`` them after)."""
    threshold = os.environ.get("BENCH_RESYNC_EXPLAIN")
    if not threshold:
        return []
    plans: list[str] = []
    connection.connection.notices = plans  # psycopg2 appends each message the server sends
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('auto_explain.log_min_duration', true)")
        if cursor.fetchone()[0] is None:
            raise SystemExit("auto_explain is not loaded for the portal's role: see _auto_explain's docstring")
        for setting, value in (
            ("log_min_duration", f"{int(threshold)}ms"),
            ("log_analyze", "on"),
            ("log_buffers", "on"),
            ("log_nested_statements", "on"),
        ):
            cursor.execute(f"SET auto_explain.{setting} = '{value}'")
        cursor.execute("SET client_min_messages = log")
    return plans


def main(delivery: Path) -> None:
    import django

    django.setup()
    from django.db import connection

    import tiles.publication as publication
    from geoportal.postgis import base as backend
    from importers import sources  # noqa: F401 - registers the sources
    from importers.base import import_delivery

    statements: dict[str, list[float]] = defaultdict(list)
    phases: list[tuple[str, float]] = []
    timings: dict[str, float] = defaultdict(float)
    removal: dict[str, int] = {}
    sql_by_phase: dict[str, float] = defaultdict(float)

    def timed_statement(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            seconds = time.perf_counter() - started
            statements[_label(sql)].append(seconds)
            sql_by_phase[phases[-1][0] if phases else "start"] += seconds

    def timed_hook(hook):
        def hook_timed(wrapper):
            started = time.perf_counter()
            try:
                return hook(wrapper)
            finally:
                timings["before_commit_hooks_s"] += time.perf_counter() - started

        return hook_timed

    backend.BEFORE_COMMIT[:] = [timed_hook(hook) for hook in backend.BEFORE_COMMIT]
    remove = publication.published_remove

    def published_remove_timed(changes):
        changes = list(changes)
        started = time.perf_counter()
        removed = remove(changes)
        timings["published_remove_s"] += time.perf_counter() - started
        removal["boxes"] = removal.get("boxes", 0) + len(changes)
        removal["files_removed"] = removal.get("files_removed", 0) + removed
        return removed

    publication.published_remove = published_remove_timed
    fence_keys = publication.fence_keys

    def fence_keys_counted(boxes):
        keys = fence_keys(boxes)
        removal["fence_keys"] = removal.get("fence_keys", 0) + len(keys)
        return keys

    publication.fence_keys = fence_keys_counted

    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(max(id), 0) FROM layers_changeevent")
        (last_event,) = cursor.fetchone()
    connection.ensure_connection()
    explained = _auto_explain(connection)
    commit = connection._commit

    def commit_timed():
        started = time.perf_counter()
        try:
            return commit()
        finally:
            timings["commit_s"] += time.perf_counter() - started  # the hooks, then COMMIT

    connection._commit = commit_timed

    def progress(phase: str) -> None:
        phases.append((phase, time.perf_counter()))

    started = time.perf_counter()
    with connection.execute_wrapper(timed_statement):
        report = import_delivery("survey", delivery, progress=progress)
    finished = time.perf_counter()

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT change, count(*) FROM layers_changeevent WHERE id > %s GROUP BY change ORDER BY change",
            [last_event],
        )
        events = dict(cursor.fetchall())
    marks = [*phases, ("end", finished)]
    phase_seconds = {name: marks[k + 1][1] - at for k, (name, at) in enumerate(marks[:-1])}
    slowest = sorted(((sum(times), len(times), label) for label, times in statements.items()), reverse=True)[:SLOWEST]
    print(
        json.dumps(
            {
                "seconds": finished - started,
                "phases": phase_seconds,
                "startup_to_phase_read": phases[0][1] - started if phases else None,
                "counts": report.counts,
                "notes": report.notes,
                "events": events,
                "timings": dict(timings),
                "tiles": removal,
                "sql_seconds": sum(sum(times) for times in statements.values()),
                "sql_statements": sum(len(times) for times in statements.values()),
                "sql_by_phase": dict(sql_by_phase),
                "slowest": [{"seconds": s, "count": n, "sql": label} for s, n, label in slowest],
                "plans": list(explained),
            }
        )
    )


if __name__ == "__main__":
    main(Path(sys.argv[1]))
