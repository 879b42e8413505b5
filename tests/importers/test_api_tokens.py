"""API tokens (importers/api_tokens.py, api.py, the api_token command, the admin): a department's system
uploads deliveries and follows its jobs with ``Authorization: Bearer``, without a session or a CSRF token;
a token that is malformed, unknown, revoked or expired, or whose account is disabled, is refused with
401 before the upload is read, and a token never gives more than its account's permissions."""

from __future__ import annotations

import datetime
import io
import zipfile
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import Client
from django.utils import timezone

from importers.api_tokens import api_token_create, api_token_revoke
from importers.models import ApiToken, ImportJob
from layers.models import Parcel
from tests.importers.delivery_builders import geopackage_write, survey_layers

pytestmark = pytest.mark.usefixtures("municipality", "jobs_run_eagerly")
API = "/api/imports/"
UNKNOWN = "gpt_" + "A" * 43  # well formed, never made


@pytest.fixture(autouse=True)
def _job_storage(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def _staff(username: str, *codenames: str, is_staff: bool = True) -> User:
    user = User.objects.create_user(username, password="x", is_staff=is_staff)
    for codename in codenames:
        user.user_permissions.add(Permission.objects.get(content_type__app_label="importers", codename=codename))
    return user


@pytest.fixture
def department(db) -> User:
    return _staff("survey-sync", "add_importjob")


@pytest.fixture
def secret(department) -> str:
    return api_token_create(user=department, name="survey department sync")[1]


@pytest.fixture
def api() -> Client:
    return Client(enforce_csrf_checks=True)  # as a script would be: no session, no CSRF cookie


def _survey_zip(folder: Path) -> Path:
    geopackage = geopackage_write(folder / "build" / "survey.gpkg", survey_layers())
    archive = folder / "survey-2024-01.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        zipped.write(geopackage, "survey.gpkg")
    return archive


def _upload(api: Client, archive: Path, authorization: str):
    with open(archive, "rb") as delivery:
        return api.post(API, {"source": "survey", "file": delivery}, HTTP_AUTHORIZATION=authorization)


def test_a_token_made_by_the_command_uploads_and_follows_its_job_without_a_session(
    api, department, tmp_path, django_capture_on_commit_callbacks
):
    out, err = io.StringIO(), io.StringIO()
    call_command("api_token", "create", "--user", "survey-sync", "--name", "survey sync", stdout=out, stderr=err)
    secret = out.getvalue().strip()
    assert "copy it now, it is not shown again" in err.getvalue()

    with django_capture_on_commit_callbacks(execute=True):
        response = _upload(api, _survey_zip(tmp_path), f"Bearer {secret}")

    assert response.status_code == 202, response.content
    job_id = response.json()["id"]
    job = api.get(f"{API}{job_id}", HTTP_AUTHORIZATION=f"bearer {secret}").json()  # the scheme in any case
    assert (job["status"], job["created_by"]) == ("accepted", "survey-sync")
    assert [entry["id"] for entry in api.get(API, HTTP_AUTHORIZATION=f"Bearer {secret}").json()["jobs"]] == [job_id]
    assert Parcel.objects.count() == 2
    token = ApiToken.objects.get()
    assert token.last_used_at is not None
    assert (token.expires_at - timezone.now()).days in (364, 365)  # a year unless asked otherwise


def test_only_the_digest_of_the_secret_is_stored(secret):
    with connection.cursor() as cursor:
        cursor.execute("SELECT row_to_json(t)::text FROM importers_apitoken t")
        (row,) = cursor.fetchone()
    assert secret not in row
    assert secret[:12] in row  # the prefix, to tell tokens apart
    assert secret[12:] not in row


@pytest.mark.parametrize(
    ("authorization", "message"),
    [
        (f"Bearer {UNKNOWN}", "The API token is not valid."),
        ("Bearer gpt_short", "The API token is not valid."),
        ("Bearer ' OR 1=1 --", "Authorization: only 'Bearer <API token>' is accepted here."),
        ("Bearer gpt_'OR'1'='1'--aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "The API token is not valid."),
        ("Bearer " + "a" * 100_000, "The API token is not valid."),
        ("Bearer gpt_" + "é" * 43, "The API token is not valid."),
        ("Bearer ", "Authorization: only 'Bearer <API token>' is accepted here."),
        ("Basic c3VydmV5LXN5bmM6eA==", "Authorization: only 'Bearer <API token>' is accepted here."),
        ("Token x", "Authorization: only 'Bearer <API token>' is accepted here."),
    ],
    ids=["unknown", "short", "sql-with-spaces", "sql", "huge", "non-ascii", "empty", "basic", "other-scheme"],
)
def test_a_bad_token_is_refused_before_the_upload_is_read(api, secret, tmp_path, authorization, message):
    responses = [_upload(api, _survey_zip(tmp_path), authorization), api.get(API, HTTP_AUTHORIZATION=authorization)]

    for response in responses:
        assert response.status_code == 401
        assert response.json() == {"error": "NotAuthenticated", "message": message}
        assert response["WWW-Authenticate"] == 'Bearer realm="geoportal", error="invalid_token"'
    assert not ImportJob.objects.exists()


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (lambda token: api_token_revoke(token=token), "The API token was revoked."),
        (
            lambda token: ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now()),
            "The API token has expired.",
        ),
        (
            lambda token: User.objects.filter(pk=token.user_id).update(is_active=False),
            "The API token's account is disabled.",
        ),
    ],
    ids=["revoked", "expired", "account-disabled"],
)
def test_a_token_stops_working_once_revoked_expired_or_its_account_disabled(api, secret, tmp_path, spoil, message):
    assert api.get(API, HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 200
    spoil(ApiToken.objects.get())

    response = _upload(api, _survey_zip(tmp_path), f"Bearer {secret}")

    assert (response.status_code, response.json()["message"]) == (401, message)
    assert not ImportJob.objects.exists()


@pytest.mark.parametrize(
    ("user_of", "expected"),
    [
        (lambda: _staff("reader", "view_importjob"), [403, 200]),  # may read jobs, not upload
        (lambda: _staff("no-permission"), [403, 403]),
        (lambda: _staff("not-staff", "add_importjob", is_staff=False), [403, 403]),
    ],
    ids=["read-only", "staff-without-permission", "permission-without-staff"],
)
def test_a_token_gives_no_more_than_its_account_may(api, tmp_path, user_of, expected):
    secret = api_token_create(user=user_of(), name="t")[1]

    authorization = f"Bearer {secret}"
    responses = [_upload(api, _survey_zip(tmp_path), authorization), api.get(API, HTTP_AUTHORIZATION=authorization)]

    assert [response.status_code for response in responses] == expected
    assert not ImportJob.objects.exists()


def test_without_credentials_the_api_says_it_takes_a_bearer_token(api):
    response = api.get(API)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="geoportal"'
    assert "send an API token" in response.json()["message"]


def test_the_command_refuses_accounts_the_api_would_refuse_and_lists_no_secrets(department, secret):
    _staff("not-staff", "add_importjob", is_staff=False)
    with pytest.raises(CommandError, match="No account 'nobody'"):
        call_command("api_token", "create", "--user", "nobody", "--name", "x")
    with pytest.raises(CommandError, match="'not-staff' is not an active staff account"):
        call_command("api_token", "create", "--user", "not-staff", "--name", "x")

    out = io.StringIO()
    call_command("api_token", "list", stdout=out)
    token = ApiToken.objects.get()
    assert f"#{token.pk}  {secret[:12]}…  survey-sync  'survey department sync'  active" in out.getvalue()
    assert secret not in out.getvalue()

    call_command("api_token", "revoke", str(token.pk), stdout=io.StringIO())
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_the_admin_lists_tokens_without_secrets_and_revokes_them(client, secret):
    admin = User.objects.create_superuser("admin", password="x")
    client.force_login(admin)
    token = ApiToken.objects.get()

    page = client.get("/admin/importers/apitoken/").content.decode()
    assert secret[:12] in page
    assert token.digest not in page
    assert client.get("/admin/importers/apitoken/add/").status_code == 403

    response = client.post("/admin/importers/apitoken/", {"action": "revoke", "_selected_action": [token.pk]})

    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert token.revoked_at <= timezone.now() + datetime.timedelta(seconds=1)
