"""importers/sources/governorates.py: a governorate's code is a key like every code (layers/models/keys.py)."""

from __future__ import annotations

import json

import pytest

from importers import sources  # noqa: F401
from importers.base import import_delivery
from importers.report import ImportRejected
from layers.models import ChangeEvent, Governorate
from tests.conftest import kuwait_governorates_geojson

pytestmark = pytest.mark.usefixtures("municipality")


@pytest.mark.parametrize(
    ("code", "said"),
    [
        ("kw-ah", "may hold only ASCII capitals, digits, '-' and '_'"),
        ("KW/AH", "may hold only ASCII capitals, digits, '-' and '_'"),
        ("<b>KW</b>", "may hold only ASCII capitals, digits, '-' and '_'"),
        ("KW-AHMADI-1", "longer than 10 characters"),
    ],
)
def test_a_governorate_code_that_is_not_a_key_is_refused_and_nothing_changes(tmp_path, code, said):
    path = kuwait_governorates_geojson(tmp_path / "delivery")
    delivery = json.loads(path.read_text(encoding="utf-8"))
    delivery["features"][0]["properties"]["code"] = code
    path.write_text(json.dumps(delivery), encoding="utf-8")
    before = (sorted(Governorate.objects.values_list("code", flat=True)), ChangeEvent.objects.count())

    with pytest.raises(ImportRejected) as rejected:
        import_delivery("governorates", path.parent)

    assert any(said in str(problem) for problem in rejected.value.report.problems), rejected.value.report.as_text()
    assert (sorted(Governorate.objects.values_list("code", flat=True)), ChangeEvent.objects.count()) == before
