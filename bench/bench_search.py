"""The place search (``/api/search``, layers/selectors.py) on the 1,000,000-parcel municipality, beside its SQL floor:
the very statements the endpoint ran for each query, captured once and replayed with psycopg2 (no HTTP, no Django).

The queries are what citizens type into the map's search box, in both languages: the first word of a sample of the
index's own names (an area, a street, a landmark), a name whole, a typo, a street number with its area, and a few
fixed ones (two letters, a landmark's kind). One at a time, the sides taking turns query by query
(``interleaved_passes``): a search box asks as one types, so the latency of one is what a citizen waits for.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import subprocess
import sys

from bench.bench_tiles import median_result
from bench.harness import BENCH_DIR, Measurement
from bench.peers import portal
from bench.peers.database import bench_database_ensure, connect
from bench.peers.load import KeepAliveClient, LoadResult, interleaved_passes
from bench.peers.processes import LOOPBACK, http_get

PARCELS = 1_000_000
SAMPLED_NAMES = 60
LIMIT = 8  # as the home map asks
FIXED = ["sa", "سالمية", "Salmiya", "hospital", "مستشفى", "شارع 5 السالمية", "Salmiyah", "ring road"]
GOAL = "none (no issue asks; context)"
FLOOR = "SQL floor (the endpoint's own statements, replayed with psycopg2)"


def search_queries(database: str, seed: int) -> list[str]:
    """The fixed queries, then for a seeded sample of the index's names: the first English word, the first Arabic
    word without its article, and the English name whole with its last letter dropped (a typo)."""
    connection = connect(database)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT name_en, name_ar FROM layers_searchentry ORDER BY layer, key")
            names = cursor.fetchall()
    finally:
        connection.close()
    sample = random.Random(seed).sample(names, min(SAMPLED_NAMES, len(names)))
    queries = list(FIXED)
    for name_en, name_ar in sample:
        queries.append(name_en.split()[0] if name_en else name_ar)
        queries.append(name_ar.split()[0].removeprefix("ال") if name_ar else name_en)
        queries.append(name_en[:-1] if len(name_en) > 4 else name_en)
    return list(dict.fromkeys(query.strip() for query in queries if query.strip()))  # as the view strips q


# Run in a process of its own, on the benchmark's database: Django reads DATABASE_URL once, at its setup, which an
# earlier benchmark of the same run may have done on the portal's own.
CAPTURE = """
import json, sys
import django
django.setup()
from django.db import connection
from django.test.utils import CaptureQueriesContext
from layers.selectors import search_entries
statements = {}
for query in json.load(sys.stdin):
    with CaptureQueriesContext(connection) as captured:
        search_entries(query=query, limit=LIMIT)
    statements[query] = [entry["sql"] for entry in captured.captured_queries]
json.dump(statements, sys.stdout)
"""


def statements_of(database_url: str, queries: list[str]) -> dict[str, list[str]]:
    """The SQL each query's search ran (its parameters in it, and its BEGIN and COMMIT), as Django sent it: what the
    floor replays."""
    environment = {**os.environ, "DATABASE_URL": database_url, "DJANGO_SETTINGS_MODULE": "geoportal.settings"}
    captured = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", CAPTURE.replace("LIMIT", str(LIMIT))],
        input=json.dumps(queries), capture_output=True, text=True, check=True, cwd=BENCH_DIR.parent, env=environment,
    )  # fmt: skip
    return json.loads(captured.stdout)


# A block reference's search lists the blocks or parcels it finds before the names (layers/search_references.py).
# Any other search lists what the last names statement of the whole query found (in any layer: a reference's search
# asks the names of its areas too): where no name holds its words, they may be searched again read as meant, and a
# last one looks for names only like the query when too few hold its words and none is the query
# (layers/search_names.py).
REFERENCE_SEARCH = ("FROM layers_block b JOIN layers_area", "FROM layers_parcel p")
WHOLE_QUERY_NAMES = "(NULL::text[] IS NULL OR e.layer = ANY(NULL::text[]))"


def agreement(port: int, database: str, statements: dict[str, list[str]], paths: dict[str, str]) -> str:
    """Whether ours and the floor found the same entries, in the same order, for every query."""
    connection = connect(database)
    connection.autocommit = True
    differing, skipped = [], 0
    try:
        for query, sql in statements.items():
            if any(marker in statement for statement in sql for marker in REFERENCE_SEARCH):
                skipped += 1
                continue
            with connection.cursor() as cursor:
                found = []
                for statement in sql:
                    cursor.execute(statement)
                    found = cursor.fetchall() if WHOLE_QUERY_NAMES in statement else found
            status, body = http_get(f"http://{LOOPBACK}:{port}{paths[query]}")
            ours = [(r["layer"], r["key"]) for r in json.loads(body)["results"]] if status == 200 else None
            if ours != [(layer, key) for layer, key, *_rest in found]:
                differing.append(query)
    finally:
        connection.close()
    compared = len(statements) - skipped
    if differing:
        return f"ours and the floor found different entries for {len(differing)} of {compared} queries: {differing[:5]}"
    return f"ours and the floor found the same entries, in the same order, for {compared} of {len(statements)} queries"


@contextlib.contextmanager
def floor_caller(database: str, statements: dict[str, list[str]]):
    """Replay a query's statements as Django sent them, its BEGIN and COMMIT among them (the search sets its similarity
    threshold for its own transaction)."""
    connection = connect(database)
    connection.autocommit = True

    def call(query: str) -> bool:
        with connection.cursor() as cursor:
            for sql in statements[query]:
                cursor.execute(sql)
                if cursor.description is not None:  # not BEGIN or COMMIT
                    cursor.fetchall()
        return True

    try:
        yield call
    finally:
        connection.close()


def run(options: dict) -> list[Measurement]:
    database = bench_database_ensure(PARCELS, options["seed"])
    queries = search_queries(database.name, options["seed"])
    statements = statements_of(database.url, queries)
    with contextlib.ExitStack() as stack:
        port = stack.enter_context(portal.portal_server(database.url, cache=False))
        client = KeepAliveClient(port)
        stack.callback(client.close)
        floor = stack.enter_context(floor_caller(database.name, statements))
        paths = {query: "/api/search?" + _query_string(query) for query in queries}
        check = agreement(port, database.name, statements, paths)
        sides = {"ours": lambda query: client.get(paths[query]) < 400, "floor": floor}
        interleaved_passes(sides, queries)  # warm-up
        runs = [interleaved_passes(sides, queries) for _ in range(options["repeat"])]
    results = {name: median_result([each[name] for each in runs]) for name in sides}
    return rows(results, entries=_entries(database.name), queries=len(queries), check=check)


def rows(results: dict[str, LoadResult], *, entries: int, queries: int, check: str) -> list[Measurement]:
    ours, floor = results["ours"], results["floor"]
    about = f"{queries} queries, one at a time, {entries:,} index entries"
    notes = {
        "p50": f"ours {ours.errors} errors; p50 ours {ours.p50_ms:.1f} ms, floor {floor.p50_ms:.1f} ms; {check}",
        "p95": "same passes as above",
    }
    return [
        Measurement(f"Place search, {figure} ({about})", getattr(ours, f"{figure}_ms"), FLOOR,
                    getattr(floor, f"{figure}_ms"), "ms", GOAL, note=note)
        for figure, note in notes.items()
    ]  # fmt: skip


def _query_string(query: str) -> str:
    from urllib.parse import urlencode

    return urlencode({"q": query, "limit": LIMIT})


def _entries(database: str) -> int:
    connection = connect(database)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM layers_searchentry")
            return cursor.fetchone()[0]
    finally:
        connection.close()
