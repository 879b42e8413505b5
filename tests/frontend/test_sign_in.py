"""frontend/accounts.py: planners and ministry accounts, who are not staff, sign in to the portal itself and get
their whole file; the way back is only to our own pages; guesses are limited; signing out is a POST."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from layers.services.roles import roles_ensure
from tests.layers.parcel_file_scene import CANARY_OWNER, parcel_file_scene_build

pytestmark = pytest.mark.usefixtures("municipality")
PASSWORD = "a-planner-s-password"  # noqa: S105 - a test account's


@pytest.fixture
def scene(tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"
    return parcel_file_scene_build(tmp_path)


@pytest.fixture
def planner():
    """A planner as roles_ensure makes them: in the planners group, not staff (the admin's sign-in refuses them)."""
    user = User.objects.create_user("planner2", password=PASSWORD)
    user.groups.add(roles_ensure())
    return user


def test_a_planner_who_is_not_staff_signs_in_and_returns_to_the_whole_file(client, scene, planner):
    page = f"/parcels/{scene.plot.id}/"
    public = client.get(page).content.decode()

    form = client.get("/accounts/sign-in/", {"next": page})
    signed_in = client.post("/accounts/sign-in/", {"username": "planner2", "password": PASSWORD, "next": page})
    whole = client.get(page)

    assert CANARY_OWNER not in public
    assert f'href="/accounts/sign-in/?next=/parcels/{scene.plot.id}/"' in public  # a way in, back to this page
    assert form.status_code == 200
    assert 'name="next" value="/parcels/' in form.content.decode()
    assert (signed_in.status_code, signed_in["Location"]) == (302, page)
    assert CANARY_OWNER in whole.content.decode()
    assert "Signed in as <strong>planner2</strong>" in whole.content.decode()
    assert whole["Cache-Control"] == "private, no-store"


def test_the_admin_s_sign_in_still_refuses_a_planner(client, planner):
    answer = client.post("/admin/login/", {"username": "planner2", "password": PASSWORD, "next": "/admin/"})

    assert answer.status_code == 200  # the form again, with its error: the admin is for staff
    assert "_auth_user_id" not in client.session


def test_a_wrong_password_is_refused_in_both_languages_and_signs_nobody_in(client, planner):
    answer = client.post("/accounts/sign-in/", {"username": "planner2", "password": "guess"})

    assert answer.status_code == 200
    assert "Please enter a correct username and password" in answer.content.decode()
    assert "كلمة المرور غير صحيحة" in answer.content.decode()
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize(
    "elsewhere", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)"]
)
def test_next_never_leads_to_another_site(client, planner, elsewhere):
    answer = client.post("/accounts/sign-in/", {"username": "planner2", "password": PASSWORD, "next": elsewhere})

    assert (answer.status_code, answer["Location"]) == (302, "/")


def test_sign_in_attempts_are_limited_per_address(client, planner, settings, fresh_rate_window):
    settings.LOGIN_ATTEMPTS_PER_MINUTE = 3

    answers = [client.post("/accounts/sign-in/", {"username": "planner2", "password": "guess"}) for _ in range(4)]
    right_but_late = client.post("/accounts/sign-in/", {"username": "planner2", "password": PASSWORD})

    assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
    assert right_but_late.status_code == 429
    assert int(right_but_late["Retry-After"]) > 0
    assert "_auth_user_id" not in client.session


def test_signing_out_is_a_post_and_leads_back_to_the_public_file(client, scene, planner):
    page = f"/parcels/{scene.plot.id}/"
    client.force_login(planner)

    by_link = client.get("/accounts/sign-out/")
    out = client.post("/accounts/sign-out/", {"next": page})

    assert by_link.status_code == 405  # a link or an image elsewhere cannot sign a user out
    assert (out.status_code, out["Location"]) == (302, page)
    assert CANARY_OWNER not in client.get(page).content.decode()


def test_the_home_page_offers_the_way_in_and_says_who_is_signed_in(client, planner):
    before = client.get("/ar/").content.decode()
    client.force_login(planner)
    after = client.get("/").content.decode()
    after_in_arabic = client.get("/ar/").content.decode()

    assert 'href="/accounts/sign-in/?next=/ar/">تسجيل الدخول</a>' in before  # in the page's language
    assert "Signed in as <strong>planner2</strong>" in after
    assert "تم تسجيل الدخول باسم <strong>planner2</strong>" in after_in_arabic
