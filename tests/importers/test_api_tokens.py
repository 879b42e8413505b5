"""API tokens (importers/api_tokens.py, api.py, the api_token command, the admin): a department's system
uploads deliveries and follows its jobs with ``Authorization: Bearer``, without a session or a CSRF token;
a token that is malformed, unknown, revoked or expired, or whose account is disabled, is refused with
401 before the upload is read, and a token never gives more than its account's permissions."""

from __future__ import annotations

import io
import logging
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
    ("spoil", "reason"),
    [
        (lambda token: api_token_revoke(token=token), "revoked"),
        (lambda token: ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now()), "expired"),
        (lambda token: User.objects.filter(pk=token.user_id).update(is_active=False), "of a disabled account"),
    ],
    ids=["revoked", "expired", "account-disabled"],
)
def test_a_token_stops_working_once_revoked_expired_or_its_account_disabled(
    api, secret, tmp_path, spoil, reason, caplog
):
    assert api.get(API, HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 200
    token = ApiToken.objects.get()
    spoil(token)

    with caplog.at_level(logging.WARNING, logger="importers.api_tokens"):
        response = _upload(api, _survey_zip(tmp_path), f"Bearer {secret}")

    # The caller learns nothing of the token's state; the operators' log says why.
    assert (response.status_code, response.json()["message"]) == (401, "The API token is not valid.")
    assert not ImportJob.objects.exists()
    logged = [record.getMessage() for record in caplog.records if record.name == "importers.api_tokens"]
    assert logged == [f"API token #{token.pk} ({secret[:12]}…, survey-sync) refused: {reason}"]
    assert secret[12:] not in caplog.text


def test_a_session_sending_a_bad_authorization_header_does_not_skip_the_csrf_check(department, tmp_path):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(department)
    archive = _survey_zip(tmp_path)
    for authorization in ("Bearer junk", "Basic c3VydmV5LXN5bmM6eA==", f"Bearer {UNKNOWN}"):
        assert _upload(browser, archive, authorization).status_code == 401
    # Without the header the session is used, and the missing CSRF token is refused.
    with open(archive, "rb") as delivery:
        assert browser.post(API, {"source": "survey", "file": delivery}).status_code == 403
    assert not ImportJob.objects.exists()


def test_a_token_opens_no_page_but_the_import_api(client, secret):
    response = client.get("/admin/importers/importjob/", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert (response.status_code, response["Location"].split("?")[0]) == (302, "/admin/login/")
    response = client.get(f"{API}?access_token={secret}")  # RFC 6750 §2.3 is not supported
    assert response.status_code == 401


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


def test_the_command_refuses_superusers_unless_told_and_absurd_lifetimes(department):
    User.objects.create_superuser("root-admin", password="x")
    with pytest.raises(CommandError, match="'root-admin' is a superuser"):
        call_command("api_token", "create", "--user", "root-admin", "--name", "x")
    for days in ("-1", "3651", "100000000"):
        with pytest.raises(CommandError, match="--expires-days: 0 \\(never\\) to 3650"):
            call_command("api_token", "create", "--user", "survey-sync", "--name", "x", "--expires-days", days)
    assert not ApiToken.objects.exists()

    errors = io.StringIO()
    call_command("api_token", "create", "--user", "root-admin", "--name", "x", "--allow-superuser",
                 stdout=io.StringIO(), stderr=errors)  # fmt: skip
    _staff("no-import-permission")
    call_command("api_token", "create", "--user", "no-import-permission", "--name", "x",
                 stdout=io.StringIO(), stderr=errors)  # fmt: skip
    assert "'no-import-permission' holds neither importers.add_importjob nor" in errors.getvalue()
    assert ApiToken.objects.count() == 2


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
