"""``/api/changes`` (frontend/views.py, layers/change_feed.py): the feed over HTTP, and bad input refused."""

from __future__ import annotations

import datetime
import subprocess

import pytest
from django.db import connection
from django.urls import reverse

from layers.change_feed import feed_latest
from layers.models import ChangeEvent
from layers.services.parcels import parcel_create
from tests.factories import parcel_survey
from tests.geometry_helpers import SALMIYA_X, ktm_rectangle

pytestmark = pytest.mark.django_db(transaction=True)
INJECTION = "parcels'); DROP TABLE layers_changeevent; --"
LAYERS = "governorates, areas, blocks, parcels, zoning, streets, landmarks, imagery, neighbouring_land"


def _not_a_cursor(value: str) -> str:
    return f"after: '{value}' is not a cursor of this feed; use the 'next' cursor of a page, or 'latest'."


def _parcels(block, count: int) -> None:
    for number in range(1, count + 1):
        parcel_create(
            block=block,
            number=str(number),
            survey=parcel_survey(ktm_rectangle(SALMIYA_X + 30 * number)),
            valid_from=datetime.date(2024, 1, 15),
        )


def test_a_page_is_geojson_and_its_next_link_leads_on(client, block):
    start = feed_latest()
    _parcels(block, 3)

    first = client.get(reverse("change_feed"), {"after": str(start), "limit": "2", "layer": "parcels"})
    body = first.json()
    second = client.get(body["links"][0]["href"].removeprefix("http://testserver"))

    assert first.status_code == 200
    assert first["Content-Type"] == "application/geo+json"
    assert first["Cache-Control"] == "no-cache"
    assert body["type"] == "FeatureCollection"
    assert [feature["properties"]["key"][-1] for feature in body["features"]] == ["1", "2"]
    assert body["next"] == body["features"][-1]["id"]
    link = body["links"][0]
    assert (link["rel"], link["type"]) == ("next", "application/geo+json")
    assert link["href"].startswith("http://testserver/api/changes?")
    assert {f"after={body['next']}", "layer=parcels", "limit=2"} <= set(link["href"].split("?")[1].split("&"))
    assert [feature["properties"]["key"][-1] for feature in second.json()["features"]] == ["3"]


def test_latest_answers_an_empty_page_whose_next_link_gets_what_comes_after(client, block):
    _parcels(block, 1)

    body = client.get(reverse("change_feed"), {"after": "latest"}).json()
    later = parcel_survey(ktm_rectangle(SALMIYA_X - 60))
    parcel_create(block=block, number="9", survey=later, valid_from=datetime.date(2024, 2, 1))
    following = client.get(body["links"][0]["href"].removeprefix("http://testserver")).json()

    assert body["features"] == []
    assert [feature["properties"]["key"] for feature in following["features"]] == [
        f"{block.area.code}/{block.number}/9"
    ]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"after": "x"}, _not_a_cursor("x")),
        ({"after": "1.2.3"}, _not_a_cursor("1.2.3")),
        ({"after": "-1.5"}, _not_a_cursor("-1.5")),
        ({"after": "18446744073709551616.1"}, _not_a_cursor("18446744073709551616.1")),  # one past the largest xid8
        ({"after": "1.9223372036854775808"}, _not_a_cursor("1.9223372036854775808")),  # one past the largest bigint
        ({"after": "1.1' OR '1'='1"}, _not_a_cursor("1.1' OR '1'='1")),
        ({"after": "٣.٤"}, _not_a_cursor("٣.٤")),
        # A cursor naming its database: 8 lowercase hex digits, then the xid and the id.
        ({"after": "0a1b2c3d.1.2.3"}, _not_a_cursor("0a1b2c3d.1.2.3")),
        ({"after": "0A1B2C3D.1.2"}, _not_a_cursor("0A1B2C3D.1.2")),
        ({"after": "0a1b2c3.1.2"}, _not_a_cursor("0a1b2c3.1.2")),
        ({"after": "0a1b2c3d4.1.2"}, _not_a_cursor("0a1b2c3d4.1.2")),
        ({"after": "0a1b2c3g.1.2"}, _not_a_cursor("0a1b2c3g.1.2")),
        ({"after": "0a1b2c٣d.1.2"}, _not_a_cursor("0a1b2c٣d.1.2")),
        ({"after": "０a1b2c3d.1.2"}, _not_a_cursor("０a1b2c3d.1.2")),  # a fullwidth digit
        ({"after": ".1.2"}, _not_a_cursor(".1.2")),
        ({"after": "0a1b2c3d..2"}, _not_a_cursor("0a1b2c3d..2")),
        ({"after": "0a1b2c3d.1.2\n"}, _not_a_cursor("0a1b2c3d.1.2\n")),
        ({"after": "0a1b2c3d.18446744073709551616.1"}, _not_a_cursor("0a1b2c3d.18446744073709551616.1")),
        ({"after": "0a1b2c3d.1.9223372036854775808"}, _not_a_cursor("0a1b2c3d.1.9223372036854775808")),
        ({"after": "0a1b2c3d.1.1' OR '1'='1"}, _not_a_cursor("0a1b2c3d.1.1' OR '1'='1")),
        ({"after": "0a1b2c3d.1.2.ABCDEF01"}, _not_a_cursor("0a1b2c3d.1.2.ABCDEF01")),  # a witness is lowercase hex
        ({"after": "0a1b2c3d.1.2.abcdef0"}, _not_a_cursor("0a1b2c3d.1.2.abcdef0")),  # of 8 digits
        ({"after": "0a1b2c3d.1.2.abcdef01.2"}, _not_a_cursor("0a1b2c3d.1.2.abcdef01.2")),
        ({"layer": "owners"}, f"layer: unknown layer 'owners'; layers: {LAYERS}."),
        ({"layer": "parcels,permits"}, f"layer: unknown layer 'permits'; layers: {LAYERS}."),
        (
            {"layer": INJECTION},
            f"layer: unknown layer '{INJECTION[:40]}'; layers: {LAYERS}.",  # named, cut at 40 characters
        ),
        ({"layer": "parcels,"}, f"layer: unknown layer ''; layers: {LAYERS}."),
        ({"bbox": "48,29"}, "bbox: expected four numbers 'west,south,east,north' in degrees, got '48,29'."),
        ({"bbox": "48,29,47,30"}, "bbox: '48,29,47,30' is not west < east within ±180 and south < north within ±90."),
        ({"bbox": "nan,29,48,30"}, "bbox: 'nan,29,48,30' is not west < east within ±180 and south < north within ±90."),
        ({"limit": "0"}, "limit: a whole number from 1 to 5000."),
        ({"limit": "5001"}, "limit: a whole number from 1 to 5000."),
        ({"limit": "1e3"}, "limit: a whole number from 1 to 5000."),
        ({"limit": "9" * 5000}, "limit: a whole number from 1 to 5000."),
        ({"after": ["latest", "1.1"]}, "after: given 2 times; give it once."),  # Django kept the last
        ({"bbox": ["47,29,48,30", "46,28,47,29"]}, "bbox: given 2 times; give it once."),
        ({"limit": ["1", "2", "3"]}, "limit: given 3 times; give it once."),
    ],
)
def test_bad_input_gets_a_400_naming_it_and_changes_nothing(client, block, query, message):
    _parcels(block, 1)
    events_before = ChangeEvent.objects.count()

    response = client.get(reverse("change_feed"), query)

    assert response.status_code == 400
    assert response.json()["message"] == message
    assert ChangeEvent.objects.count() == events_before
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('layers_changeevent') IS NOT NULL")
        assert cursor.fetchone()[0]


def test_a_cursor_of_another_database_gets_a_400_that_says_to_start_again_from_latest(client, block):
    """A restore into a new cluster, another municipality's portal: its transaction and event ids are not these."""
    start = feed_latest()
    _parcels(block, 1)
    other = "00000000" if start.database != "00000000" else "ffffffff"
    cursor = f"{other}.{start.xid}.{start.id}"  # this database's place, another's name

    refused = client.get(reverse("change_feed"), {"after": cursor})
    served = client.get(reverse("change_feed"), {"after": str(start)})

    assert refused.status_code == 400
    assert refused.json()["message"] == (
        f"after: cursor {cursor} was given by another database (was this one restored from a backup?);"
        " start again from 'latest'."
    )
    assert served.status_code == 200
    assert served.json()["next"].startswith(f"{start.database}.")


def test_a_cursor_past_changes_the_database_lost_gets_a_400_that_says_to_start_again(client, block):
    """A restore from a copy of the data folder keeps the database's name; the parcel a consumer's cursor follows is
    gone from it (tests/layers/test_change_feed_witness.py makes such restores, one for real)."""
    start = feed_latest()
    _parcels(block, 2)
    given = client.get(reverse("change_feed"), {"after": str(start)}).json()["next"]
    with connection.cursor() as cursor:  # the second parcel's event lost, as a copy taken before it
        cursor.execute("DELETE FROM layers_changeevent WHERE id = (SELECT max(id) FROM layers_changeevent)")
    events_before = ChangeEvent.objects.count()

    refused = client.get(reverse("change_feed"), {"after": given})

    assert refused.status_code == 400
    assert refused.json()["message"] == (
        f"after: cursor {given} is not in this database's history (was it restored from a backup, or failed over to"
        " a replica?); start again from 'latest'."
    )
    assert ChangeEvent.objects.count() == events_before


def test_a_layer_given_twice_is_both_as_a_list_is(client, block):
    """?layer=parcels&layer=blocks read only blocks: a ministry syncing so silently missed every parcel."""
    start = feed_latest()
    _parcels(block, 2)
    where = ChangeEvent.objects.filter(layer="parcels").latest("id").bbox_3857
    ChangeEvent.objects.create(layer="blocks", feature_key=f"{block.area.code}/{block.number}", change="changed",
                               bbox_3857=where)  # fmt: skip

    repeated = client.get(reverse("change_feed"), {"after": str(start), "layer": ["parcels", "blocks"]}).json()
    listed = client.get(reverse("change_feed"), {"after": str(start), "layer": "parcels,blocks"}).json()
    following = client.get(repeated["links"][0]["href"].removeprefix("http://testserver"))

    layers = [feature["properties"]["layer"] for feature in repeated["features"]]
    assert layers == ["parcels", "parcels", "blocks"]
    assert repeated["features"] == listed["features"]
    assert following.status_code == 200  # its next link keeps both


def test_only_get_is_answered(client):
    assert client.post(reverse("change_feed")).status_code == 405


def test_gdal_reads_a_page_as_a_geojson_layer_over_http(live_server, block):
    """A ministry's GIS opens the feed as it opens any GeoJSON: GDAL's driver, over real HTTP."""
    start = feed_latest()
    _parcels(block, 3)
    url = f"{live_server.url}{reverse('change_feed')}?after={start}&layer=parcels"

    result = subprocess.run(  # noqa: S603 - fixed command, a loopback URL
        ["ogrinfo", "-ro", "-al", "-q", "-geom=SUMMARY", url], capture_output=True, text=True, check=True
    )

    keys = [line.split("=", 1)[1].strip() for line in result.stdout.splitlines() if line.strip().startswith("key (")]
    assert keys == [f"{block.area.code}/{block.number}/{number}" for number in (1, 2, 3)]
    assert result.stdout.count("POLYGON : 5 points") == 3
