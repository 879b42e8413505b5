"""The import-job API: upload a delivery (POST /api/imports/), list jobs, and follow one job.

Staff accounts only, with importers.add_importjob to upload and importers.view_importjob (or
add_importjob) to read; anything else is refused with a JSON 401 or 403 before the body is read.

A browser signs in with its session (and a POST carries the CSRF token); a department's system sends
``Authorization: Bearer <API token>`` instead (importers/api_tokens.py), and needs no CSRF token:
a cross-site page cannot make a browser send that header.
"""

from __future__ import annotations

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt, csrf_protect

from geoportal.errors import Forbidden, InvalidInput, NotAuthenticated
from geoportal.http_methods import READ_METHODS, methods_only, read_only
from geoportal.query_params import limit_parse, whole_number_parse

from .api_tokens import CHALLENGE, api_token_user, bearer_secret
from .jobs import DeliveryTooLarge, delivery_too_large_message, job_get, job_upload_receive
from .models import ImportJob

ADD_PERMISSION = "importers.add_importjob"
VIEW_PERMISSION = "importers.view_importjob"
LIST_LIMIT_MAX = 100
# Room for the form fields and multipart boundaries around the file itself.
MULTIPART_SLACK_BYTES = 64 << 10
BOOLEANS = {"": False, "0": False, "false": False, "off": False, "no": False}
BOOLEANS |= {"1": True, "true": True, "on": True, "yes": True}


def _json(document: dict, status: int = 200) -> JsonResponse:
    return JsonResponse(document, status=status, encoder=DjangoJSONEncoder, json_dumps_params={"ensure_ascii": False})


def _user_check(request: HttpRequest, *permissions: str):
    """Return the caller (by API token, else by session) and whether a token named it; refuse all but
    staff holding one of ``permissions``."""
    secret = bearer_secret(request.headers.get("Authorization"))
    user = api_token_user(secret) if secret is not None else request.user
    if not user.is_authenticated:
        refusal = NotAuthenticated("Sign in with a staff account, or send an API token, to use the import API.")
        refusal.headers["WWW-Authenticate"] = CHALLENGE
        raise refusal
    if not (user.is_staff and any(user.has_perm(permission) for permission in permissions)):
        raise Forbidden(f"The import API needs a staff account with the permission {permissions[0]}.")
    return user, secret is not None


def job_document(job: ImportJob) -> dict:
    """Serialise a job for the API and the admin's progress bar."""
    return {
        "id": job.pk,
        "source": job.source,
        "origin": job.origin,
        "status": job.status,
        "progress": job.progress,
        "phase": job.phase,
        "dry_run": job.dry_run,
        "repair": job.repair,
        "counts": job.counts,
        "report": job.report,
        "log": job.log,
        "created_by": job.created_by.get_username() if job.created_by else None,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "applied_at": job.applied_at,  # when its apply committed; none for a dry run or a refused delivery
        "finished_at": job.finished_at,
    }


class _UploadSizeCap(FileUploadHandler):
    """Stop reading an upload once its file passes IMPORT_UPLOAD_MAX_BYTES (no Content-Length needed)."""

    def __init__(self, request: HttpRequest) -> None:
        super().__init__(request)
        self.received = 0
        self.exceeded = False

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received = start + len(raw_data)
        if self.received > settings.IMPORT_UPLOAD_MAX_BYTES:
            self.exceeded = True
            raise StopUpload(connection_reset=True)
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None


# Django reads the body in CsrfViewMiddleware; the upload handler must be in place before that, so
# the CSRF check is made inside, once it is (Django docs, "Modifying upload handlers on the fly").
@csrf_exempt
@methods_only(*READ_METHODS, "POST")
def jobs_view(request: HttpRequest) -> JsonResponse:
    if request.method in READ_METHODS:
        return _jobs_list(request)
    user, by_token = _user_check(request, ADD_PERMISSION)
    length = whole_number_parse(request.META.get("CONTENT_LENGTH") or "0")  # a malformed one: the cap below
    if length is not None and length > settings.IMPORT_UPLOAD_MAX_BYTES + MULTIPART_SLACK_BYTES:
        raise DeliveryTooLarge(delivery_too_large_message(length))
    cap = _UploadSizeCap(request)
    request.upload_handlers.insert(0, cap)
    if by_token:  # a valid API token, not a cookie: no CSRF (a cross-site page cannot send the header)
        return _job_upload(request, cap, user)
    return csrf_protect(_job_upload)(request, cap, user)  # a session: checked once the cap is in place


def _job_upload(request: HttpRequest, cap: _UploadSizeCap, user) -> JsonResponse:
    """multipart: source, file, dry_run, repair → 202 with the queued job."""
    uploaded = request.FILES.get("file")
    if cap.exceeded:
        raise DeliveryTooLarge(delivery_too_large_message(None))
    if uploaded is None:
        raise InvalidInput("file: required (multipart/form-data).", field="file")
    job = job_upload_receive(
        source=request.POST.get("source", "").strip(),
        uploaded=uploaded,
        dry_run=_boolean(request, "dry_run"),
        repair=_boolean(request, "repair"),
        created_by=user,
    )
    response = _json(job_document(job), status=202)
    response["Location"] = f"{request.path}{job.pk}"
    return response


def _boolean(request: HttpRequest, name: str) -> bool:
    value = request.POST.get(name, "").strip().lower()
    if value not in BOOLEANS:
        raise InvalidInput(f"{name}: '{value[:20]}' is not true or false.", field=name)
    return BOOLEANS[value]


def _jobs_list(request: HttpRequest) -> JsonResponse:
    """?status=&source=&limit= (at most 100): the latest jobs first."""
    _user_check(request, VIEW_PERMISSION, ADD_PERMISSION)
    jobs = ImportJob.objects.select_related("created_by").defer("log", "report")
    for name in ("status", "source"):
        if request.GET.get(name):
            jobs = jobs.filter(**{name: request.GET[name]})
    limit = limit_parse(request.GET.get("limit"), default=50, maximum=LIST_LIMIT_MAX)
    documents = [
        {key: value for key, value in job_document(job).items() if key not in ("log", "report")} for job in jobs[:limit]
    ]
    return _json({"jobs": documents})


@read_only
def job_view(request: HttpRequest, job_id: int) -> JsonResponse:
    _user_check(request, VIEW_PERMISSION, ADD_PERMISSION)
    return _json(job_document(job_get(job_id=job_id)))
