"""Stage a JSON list of records (the permits system's other export) like a CSV of the same columns.

A delivery is a JSON array of flat objects whose keys are among ``columns``; a missing key is an
empty value. The values are kept as the text they were written in (``3``, ``750.25``, ``"2024-03-01"``)
and validated like any CSV value afterwards. Refused, with the record's number: anything but an
array of objects, an unknown or repeated key, a value that is an object, an array or a boolean, a
NUL character (PostgreSQL text cannot hold it) or a lone UTF-16 surrogate, and a file over
IMPORT_JSON_MAX_BYTES (it is parsed in memory).
"""

from __future__ import annotations

import csv
import json
import tempfile
from pathlib import Path

from django.conf import settings

from geoportal.errors import InvalidInput

from .staging import stage_csv


def _object_without_repeats(pairs: list[tuple[str, object]]) -> dict:
    keys = [key for key, _value in pairs]
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    if repeated:
        raise InvalidInput(f"the key {repeated[0]!r} appears twice in one record.")
    return dict(pairs)


def _records(path: Path) -> list:
    size = path.stat().st_size
    if size > settings.IMPORT_JSON_MAX_BYTES:
        limit = settings.IMPORT_JSON_MAX_BYTES
        raise InvalidInput(f"{path.name}: {size:,} bytes; a JSON delivery may have at most {limit:,}.")
    try:
        text = path.read_text(encoding="utf-8-sig")
        records = json.loads(
            text,
            object_pairs_hook=_object_without_repeats,
            parse_int=str,
            parse_float=str,
            parse_constant=lambda name: _refuse(f"{name} is not a JSON value"),
        )
    except UnicodeDecodeError as error:
        raise InvalidInput(f"{path.name}: not UTF-8 text ({error.reason} at byte {error.start}).") from error
    except json.JSONDecodeError as error:
        where = f"line {error.lineno}, column {error.colno}"
        raise InvalidInput(f"{path.name}: not valid JSON: {error.msg} ({where}).") from error
    except RecursionError as error:
        raise InvalidInput(f"{path.name}: nested too deeply; expected an array of flat records.") from error
    except InvalidInput as error:
        raise InvalidInput(f"{path.name}: {error.message}") from error
    if not isinstance(records, list):
        raise InvalidInput(f"{path.name}: expected a JSON array of records, got a {type(records).__name__}.")
    return records


def _refuse(message: str):
    raise InvalidInput(message)


def _row(number: int, record: object, columns: tuple[str, ...], name: str) -> list[str]:
    if not isinstance(record, dict):
        raise InvalidInput(f"{name} record {number}: expected an object, got {json.dumps(record)[:60]}.")
    unknown = sorted(set(record) - set(columns))
    if unknown:
        keys = ", ".join(columns)
        raise InvalidInput(f"{name} record {number}: unknown key {unknown[0][:60]!r}; the keys are {keys}.")
    row = []
    for column in columns:
        value = record.get(column)
        if isinstance(value, bool | dict | list):
            shown = json.dumps(value)[:60]
            raise InvalidInput(f"{name} record {number}: {column} must be text or a number, not {shown}.")
        if isinstance(value, str) and "\x00" in value:
            raise InvalidInput(f"{name} record {number}: {column} holds a NUL character.")
        if isinstance(value, str) and not _is_unicode_text(value):
            raise InvalidInput(f"{name} record {number}: {column} holds half of a UTF-16 pair (e.g. \\ud800).")
        row.append("" if value is None else value)
    return row


def _is_unicode_text(value: str) -> bool:
    """False for a string with a lone surrogate (JSON's "\\ud800"), which no UTF-8 text can hold."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def stage_json(path: Path, columns: tuple[str, ...], *, table_prefix: str) -> str:
    """Copy a JSON array of records with keys among ``columns`` into a staging table of text columns."""
    records = _records(path)
    rows = [_row(number, record, columns, path.name) for number, record in enumerate(records, start=1)]
    with tempfile.TemporaryDirectory(prefix="json-delivery-") as folder:
        converted = Path(folder) / f"{path.stem}.csv"
        with open(converted, "w", encoding="utf-8", newline="") as file:
            writer = csv.writer(file)
            writer.writerow(columns)
            writer.writerows(rows)
        return stage_csv(converted, columns, table_prefix=table_prefix)
