"""Settings, read from the environment (django-environ). See README "Configuration"."""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from urllib.parse import unquote

import environ
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

from frontend.vendor_assets import VENDOR_STATICFILES_DIRS
from geoportal.embedded import paths as embedded
from geoportal.embedded.account import secret_key_file_made

BASE_DIR = Path(__file__).resolve().parent.parent
BOOLEAN_FALSE_STRINGS = ("false", "off", "no", "n", "0", "")


class _Environment(environ.Env):
    """django-environ, naming the variable whose value it cannot read: GEOPORTAL_SRID=abc stopped the portal with a
    bare "invalid literal for int()", and DJANGO_DEBUG=maybe was read as false without a word. A value that reads but
    makes no sense is refused the same way, with its range: GEOPORTAL_TILE_METATILE_SIZE=0 failed every raster tile,
    GEOPORTAL_PROXY_HOPS=-1 read the client's address from the wrong end of X-Forwarded-For, and an empty
    GEOPORTAL_IMPORT_QUEUE was accepted."""

    def get_value(self, var, cast=None, default=environ.Env.NOTSET, parse_default=False):
        given = self.ENVIRON.get(var)
        if (
            cast is bool
            and given is not None
            and given.strip().lower() not in (*self.BOOLEAN_TRUE_STRINGS, *BOOLEAN_FALSE_STRINGS)
        ):
            raise ImproperlyConfigured(f"{var}={given[:40]!r}: true or false (yes/no, on/off, 1/0).")
        try:
            return super().get_value(var, cast=cast, default=default, parse_default=parse_default)
        except ValueError as error:
            raise ImproperlyConfigured(f"{var}={(given or '')[:40]!r} cannot be read: {error}") from None

    # The range is inclusive (``minimum``, ``maximum``) or, for ``above``, above the bound; ``blank=False`` refuses an
    # empty or all-space text (an empty path is the working directory).
    # Numbers in ASCII digits only, read whole: Python's int() took Arabic-Indic digits and 1_000, and django-environ's
    # float kept only digits, commas, points and minus signs, so that 2e1 was read as 21.0 and 0.5s as 0.5.
    INTEGER_FORM = re.compile(r"\s*[+-]?[0-9]+\s*", re.ASCII)
    DECIMAL_FORM = re.compile(r"\s*[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?\s*", re.ASCII)

    def int(self, var, default=environ.Env.NOTSET, *, minimum=None, maximum=None, above=None) -> int:
        self._form_check(var, self.INTEGER_FORM, "a whole number in the digits 0-9")
        value = super().int(var, default=default)
        self._range_check(var, value, minimum=minimum, maximum=maximum, above=above)
        return value

    def float(self, var, default=environ.Env.NOTSET, *, minimum=None, maximum=None, above=None) -> float:
        given = self.ENVIRON.get(var)
        if given is None:
            value = super().float(var, default=default)
        else:
            self._form_check(var, self.DECIMAL_FORM, "a decimal number in the digits 0-9, such as 0.5 or 2e1")
            value = float(given)
            if not math.isfinite(value):  # 1e999
                raise ImproperlyConfigured(f"{var}={given[:40]!r} cannot be read: it is not a finite number.")
        self._range_check(var, value, minimum=minimum, maximum=maximum, above=above)
        return value

    def _form_check(self, var, form: re.Pattern, expected: str) -> None:
        given = self.ENVIRON.get(var)
        if given is not None and not form.fullmatch(given):
            raise ImproperlyConfigured(f"{var}={given[:40]!r} cannot be read: {expected}.")

    def str(self, var, default=environ.Env.NOTSET, multiline=False, choices=environ.Env.NOTSET, *, blank=True) -> str:
        value = super().str(var, default=default, multiline=multiline, choices=choices)
        if not blank and not value.strip():
            raise ImproperlyConfigured(f"{var}={value[:40]!r} is blank: set it, or unset it for the default.")
        return value

    def _range_check(self, var, value, *, minimum, maximum, above) -> None:
        if (
            (minimum is None or value >= minimum)
            and (maximum is None or value <= maximum)
            and (above is None or value > above)
        ):
            return
        bounds = []
        if minimum is not None:
            bounds.append(f"at least {minimum}")
        if above is not None:
            bounds.append(f"more than {above}")
        if maximum is not None:
            bounds.append(f"at most {maximum}")
        allowed = f"from {minimum} to {maximum}" if len(bounds) == 2 and above is None else " and ".join(bounds)
        given = self.ENVIRON.get(var, f"{value}")
        raise ImproperlyConfigured(f"{var}={given[:40]!r} is out of range: {allowed}.")


env = _Environment()

# "local" runs on the embedded services with a generated secret; "production" requires secrets.
GEOPORTAL_ENV = env.str("GEOPORTAL_ENV", default="local")
DEBUG = env.bool("DJANGO_DEBUG", default=False)


def _local_secret_key() -> str:
    if not embedded.SECRET_KEY_FILE.exists():
        secret_key_file_made()
    return embedded.SECRET_KEY_FILE.read_text(encoding="utf-8").strip()


SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="")
if not SECRET_KEY:
    if GEOPORTAL_ENV != "local":
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set outside local development.")
    SECRET_KEY = _local_secret_key()

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
CSRF_FAILURE_VIEW = "geoportal.errors.csrf_refused_view"  # JSON under /api/

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.gis",
    "django.contrib.postgres",
    "gisserver",
    "layers",
    "importers",
    "tiles",
    "frontend",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "geoportal.content_security.ContentSecurityPolicyMiddleware",
    "geoportal.errors.DomainErrorMiddleware",
]

ROOT_URLCONF = "geoportal.urls"
WSGI_APPLICATION = "geoportal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASE_URL = env.str("DATABASE_URL", default=embedded.database_url(), blank=False)
DATABASES = {"default": env.db_url_config(DATABASE_URL)}
# A unix-socket folder travels percent-encoded in the URL's host part; libpq wants it plain.
DATABASES["default"]["HOST"] = unquote(DATABASES["default"].get("HOST", ""))
DATABASES["default"]["ENGINE"] = "geoportal.postgis"  # PostGIS with before-commit hooks (tiles/publication.py)
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60, minimum=0)
# libpq's ``options`` (``DATABASE_URL=…?options=…``) replaces PGOPTIONS, where the web server puts its statement
# time limit (geoportal/statement_timeout.py): keep both.
_database_options = DATABASES["default"].get("OPTIONS", {})
if "options" in _database_options and os.environ.get("PGOPTIONS"):
    _database_options["options"] = f"{os.environ['PGOPTIONS']} {_database_options['options']}"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default=embedded.redis_url(), blank=False)
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "geoportal",
    }
}


def _kombu_url(redis_url: str) -> str:
    """Kombu spells a unix-socket Redis as redis+socket://PATH?virtual_host=DB."""
    if redis_url.startswith("unix://"):
        return "redis+socket://" + redis_url.removeprefix("unix://").replace("db=", "virtual_host=")
    return redis_url


CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=_kombu_url(REDIS_URL), blank=False)
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Beat's record of when each periodic task last ran: in the portal's own folder, not the working directory (the
# container's code folder is not the portal's to write).
CELERY_BEAT_SCHEDULE_FILENAME = str(embedded.VAR_DIR / "celerybeat-schedule")

# The municipal storage CRS. KUDAMS / KTM (EPSG:31901): the grid the Survey Department delivers
# in, a transverse Mercator on 48°E with scale 1, so stored areas and lengths are the surveyed
# ones (UTM 39N's central meridian is 51°E: up to ~0.2 % scale error over Kuwait). Migrations
# read this value; change it only before the first migrate. README "Coordinates" has the reasons.
# PostGIS takes SRIDs from 1 to 998999 (SRID_USER_MAXIMUM; those above are reserved for its own use).
SRID = env.int("GEOPORTAL_SRID", default=31901, minimum=1, maximum=998_999)
# A delivered coast may be generalised (Natural Earth's, in the tests, is up to ~2 km off): piers, islets and
# coastal landmarks may lie off it.
MUNICIPALITY_EXTENT_BUFFER_M = env.float("GEOPORTAL_EXTENT_BUFFER_M", default=2000.0, minimum=0)

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("ar", "العربية")]
TIME_ZONE = "Asia/Kuwait"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(env.str("GEOPORTAL_STATIC_ROOT", default=str(embedded.STATIC_DIR), blank=False))
# Only the built files of the npm packages we serve (frontend/vendor_assets.py lists them).
STATICFILES_DIRS = VENDOR_STATICFILES_DIRS
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env.str("GEOPORTAL_MEDIA_ROOT", default=str(embedded.MEDIA_DIR), blank=False))

# Debian 12's GDAL 3.6 cannot block file/network access from spatial references (gis.W001). We
# only ever build spatial references from integer EPSG codes and allow-listed delivery drivers
# (README "Security notes"), so the warning is acknowledged rather than repeated on every command.
SILENCED_SYSTEM_CHECKS = ["gis.W001"]

# Health: free space below this on MEDIA_ROOT's disk makes /healthz report "disk: fail".
HEALTH_MIN_FREE_DISK_BYTES = env.int("GEOPORTAL_HEALTH_MIN_FREE_DISK_BYTES", default=1 << 30, minimum=0)
# /healthz/worker fails for a queue no worker has taken a task from for this long. Beat sends each a heartbeat every
# 30 s (geoportal/celery.py, WORKER_HEARTBEAT_SECONDS): no longer than that, and it would fail between two.
HEALTH_WORKER_SILENCE_SECONDS = env.int("GEOPORTAL_HEALTH_WORKER_SILENCE_SECONDS", default=300, above=30)

# The ministries' WFS (layers/wfs.py, django-gisserver): every output format pages, at most this
# many features a request (GeoJSON and CSV would otherwise stream a whole layer in one answer).
GISSERVER_DEFAULT_MAX_PAGE_SIZE = env.int("GEOPORTAL_WFS_MAX_FEATURES", default=5000, minimum=1)
GISSERVER_GEOJSON_MAX_PAGE_SIZE = GISSERVER_DEFAULT_MAX_PAGE_SIZE
GISSERVER_CSV_MAX_PAGE_SIZE = GISSERVER_DEFAULT_MAX_PAGE_SIZE
GISSERVER_SUPPORTED_CRS_ONLY = True
# numberMatched on the first page only: counting a million parcels again for every page costs more
# than the page itself; later pages say "unknown" and carry a next link while there is more.
GISSERVER_COUNT_NUMBER_MATCHED = 2

# Tiles (tiles/): cache backend (filesystem | redis | none), metatile size in tiles per side, and
# how many renders may run at once across all processes, with how many more may wait for a slot.
TILE_CACHE = env.str("GEOPORTAL_TILE_CACHE", default="filesystem")
if TILE_CACHE not in ("filesystem", "redis", "none"):  # else found only by the first tile request
    raise ImproperlyConfigured(f"GEOPORTAL_TILE_CACHE={TILE_CACHE[:40]!r}: filesystem, redis or none.")
TILE_CACHE_DIR = Path(env.str("GEOPORTAL_TILE_CACHE_DIR", default=str(embedded.TILE_CACHE_DIR), blank=False))
# Every process that writes layer data must agree on it (it decides which tiles a change reaches). At most
# tiles/raster.py's MAX_METATILE_SIZE (16: at @2x one 8192 px image), or every raster tile request fails.
TILE_METATILE_SIZE = env.int("GEOPORTAL_TILE_METATILE_SIZE", default=4, minimum=1, maximum=16)
# The front server (nginx, geoportal/front.py) answers the tiles published here by itself
# (tiles/publication.py). Every process that writes layer data removes what its changes reach, so
# all must name the same folder. Set it empty where no front server reads it: nothing is published.
TILE_PUBLISH_DIR = env.str("GEOPORTAL_TILE_PUBLISH_DIR", default=str(embedded.TILE_PUBLISH_DIR)) or None
if TILE_PUBLISH_DIR is not None and not TILE_PUBLISH_DIR.strip():  # spaces: a folder named so, or meant empty?
    raise ImproperlyConfigured(
        f"GEOPORTAL_TILE_PUBLISH_DIR={TILE_PUBLISH_DIR[:40]!r} is blank: set it, or empty to publish nothing."
    )
# Tiles are cached and published only while their disk keeps this share of its space and of its inodes
# free: the tile folders share var/ with PostgreSQL, and each distinct tile a client asks for is stored.
TILE_DISK_RESERVE_PERCENT = env.float("GEOPORTAL_TILE_DISK_RESERVE_PERCENT", default=10.0, minimum=0, maximum=100)


def usable_cpus(cpu_max: Path = Path("/sys/fs/cgroup/cpu.max")) -> int:
    """CPUs this process may run on: its affinity, capped by a cgroup v2 CPU quota (a container's ``--cpus``)."""
    cpus = len(os.sched_getaffinity(0))
    try:
        quota, period = cpu_max.read_text().split()
        if quota != "max":
            cpus = min(cpus, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return cpus


# Two raster renders per usable CPU: a render also waits (on PostgreSQL for its features, on the slot
# hand-off), and with one per CPU the CPUs sat partly idle (bench/notes.md, "Raster render slots"). The
# slots are shared in Redis but each process applies its own figure: set it where hosts differ.
TILE_RENDER_CONCURRENCY = env.int("GEOPORTAL_TILE_RENDER_CONCURRENCY", default=2 * usable_cpus(), minimum=1)
TILE_RENDER_QUEUE = env.int("GEOPORTAL_TILE_RENDER_QUEUE", default=8, minimum=0)  # 0: none wait
TILE_VECTOR_CONCURRENCY = env.int("GEOPORTAL_TILE_VECTOR_CONCURRENCY", default=8, minimum=1)
TILE_RENDER_WAIT_SECONDS = env.float("GEOPORTAL_TILE_RENDER_WAIT_SECONDS", default=20.0, above=0)
TILE_REDIS_NAMESPACE = env.str("GEOPORTAL_TILE_REDIS_NAMESPACE", default="tiles", blank=False)

# Parcel files (layers/parcel_file/, frontend/parcel_views.py): requests per minute per client
# (anonymous: per IP address; signed in: per account) before 429, against enumeration of files.
# 0 turns the limit off (the benchmark does). Behind a reverse proxy, PROXY_HOPS is how many
# proxies append to X-Forwarded-For; the client's address is the one they received.
PARCEL_FILE_RATE_ANONYMOUS = env.int("GEOPORTAL_PARCEL_FILE_RATE_ANONYMOUS", default=60, minimum=0)
PARCEL_FILE_RATE_SIGNED_IN = env.int("GEOPORTAL_PARCEL_FILE_RATE_SIGNED_IN", default=600, minimum=0)
PROXY_HOPS = env.int("GEOPORTAL_PROXY_HOPS", default=0, minimum=0)
RATE_LIMIT_NAMESPACE = env.str("GEOPORTAL_RATE_LIMIT_NAMESPACE", default="ratelimit", blank=False)
# The portal's own sign-in (frontend/accounts.py), for planners and ministry accounts, who are not staff.
LOGIN_URL = "sign_in"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"
# Sign-in attempts (the admin's and the portal's sign-in forms) per client address and minute; 0: no limit.
LOGIN_ATTEMPTS_PER_MINUTE = env.int("GEOPORTAL_LOGIN_ATTEMPTS_PER_MINUTE", default=10, minimum=0)

# Served over HTTPS (a TLS proxy in front): cookies only over HTTPS, and browsers told to ask for nothing else
# (HSTS). On in production unless GEOPORTAL_HTTPS=false; the proxy redirects plain HTTP (GEOPORTAL_SSL_REDIRECT
# makes the portal do it, /healthz excepted). Behind our own proxies (PROXY_HOPS), their X-Forwarded-Proto says
# whether the client came over HTTPS.
HTTPS = env.bool("GEOPORTAL_HTTPS", default=GEOPORTAL_ENV == "production")
if HTTPS:
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("GEOPORTAL_HSTS_SECONDS", default=31_536_000, minimum=0)
    SECURE_SSL_REDIRECT = env.bool("GEOPORTAL_SSL_REDIRECT", default=False)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    if PROXY_HOPS:
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Zipped deliveries (importers/archives.py): refused beyond these, before anything is unpacked.
IMPORT_ARCHIVE_MAX_ENTRIES = env.int("GEOPORTAL_IMPORT_ARCHIVE_MAX_ENTRIES", default=1000, minimum=1)
IMPORT_ARCHIVE_MAX_TOTAL_BYTES = env.int("GEOPORTAL_IMPORT_ARCHIVE_MAX_TOTAL_BYTES", default=8 << 30, minimum=1)
IMPORT_ARCHIVE_MAX_RATIO = env.int("GEOPORTAL_IMPORT_ARCHIVE_MAX_RATIO", default=200, minimum=1)
# Rejected deliveries are kept here as received, with their report (importers/base.py), within the caps above.
IMPORT_QUARANTINE_DIR = Path(
    env.str("GEOPORTAL_IMPORT_QUARANTINE_DIR", default=str(embedded.QUARANTINE_DIR), blank=False)
)
# Stored deliveries and quarantine folders are removed this many days after their job finished, except the
# newest accepted delivery of each source (importers/retention.py, daily); 0 keeps them all.
IMPORT_DELIVERY_KEEP_DAYS = env.int("GEOPORTAL_IMPORT_DELIVERY_KEEP_DAYS", default=90, minimum=0)
# Delivered parcels may overlap (each other, or stored ones the delivery keeps) by at most the larger of these.
# A first load of at least this many parcels into empty tables builds their indexes and checks their
# foreign keys once, after the insert (importers/bulk_load.py); readers of those tables wait for it.
IMPORT_BULK_LOAD_MIN_ROWS = env.int("GEOPORTAL_IMPORT_BULK_LOAD_MIN_ROWS", default=50_000, minimum=0)
IMPORT_OVERLAP_TOLERANCE_M2 = env.float("GEOPORTAL_IMPORT_OVERLAP_TOLERANCE_M2", default=1.0, minimum=0)
IMPORT_OVERLAP_TOLERANCE_SHARE = env.float(
    "GEOPORTAL_IMPORT_OVERLAP_TOLERANCE_SHARE", default=0.01, minimum=0, maximum=1
)
# Import jobs (importers/jobs.py, tasks.py, api.py): uploads above this size are refused (413); each
# department drops deliveries in IMPORT_DROP_DIR/<source>/, taken once unchanged for STABLE_SECONDS;
# scheduled pulls (DeliverySchedule) stop at PULL_MAX_BYTES or after PULL_TIMEOUT_SECONDS, in all.
IMPORT_UPLOAD_MAX_BYTES = env.int("GEOPORTAL_IMPORT_UPLOAD_MAX_BYTES", default=2 << 30, minimum=1)
# A JSON list (permits.json, documents.json) is parsed in memory: at most this many bytes.
IMPORT_JSON_MAX_BYTES = env.int("GEOPORTAL_IMPORT_JSON_MAX_BYTES", default=256 << 20, minimum=1)
IMPORT_DROP_DIR = Path(env.str("GEOPORTAL_IMPORT_DROP_DIR", default=str(embedded.DROP_DIR), blank=False))
IMPORT_DROP_STABLE_SECONDS = env.int("GEOPORTAL_IMPORT_DROP_STABLE_SECONDS", default=60, minimum=0)
IMPORT_PULL_MAX_BYTES = env.int("GEOPORTAL_IMPORT_PULL_MAX_BYTES", default=2 << 30, minimum=1)
IMPORT_PULL_TIMEOUT_SECONDS = env.float("GEOPORTAL_IMPORT_PULL_TIMEOUT_SECONDS", default=60.0, above=0)
# The hosts (``host`` or ``host:port``) scheduled pulls may download from; none by default (importers/pull_hosts.py).
IMPORT_PULL_HOSTS = env.list("GEOPORTAL_IMPORT_PULL_HOSTS", default=[])
# The Celery queue import jobs go to: a dedicated worker (-Q) keeps long imports from delaying other tasks.
IMPORT_QUEUE = env.str("GEOPORTAL_IMPORT_QUEUE", default="celery", blank=False)
# A worker started without -Q (as ./portal run and docker/ start theirs) takes Celery's default queue and the import
# jobs': with only the default, a GEOPORTAL_IMPORT_QUEUE of its own left every job queued. A worker for imports alone
# is started with -Q and that name; the others then with -Q celery.
CELERY_TASK_QUEUES = [Queue(name) for name in dict.fromkeys(["celery", IMPORT_QUEUE])]

DEMO_DIR = Path(env.str("GEOPORTAL_DEMO_DIR", default=str(embedded.DEMO_DIR), blank=False))
DEMO_PARCELS = env.int("GEOPORTAL_DEMO_PARCELS", default=20000, minimum=1)
DEMO_SEED = env.int("GEOPORTAL_DEMO_SEED", default=2026, minimum=0)  # numpy takes no negative seed

LOG_LEVEL = env.str("GEOPORTAL_LOG_LEVEL", default="INFO").upper()
if LOG_LEVEL not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):  # else "Unable to configure root logger"
    raise ImproperlyConfigured(f"GEOPORTAL_LOG_LEVEL={LOG_LEVEL[:40]!r}: DEBUG, INFO, WARNING, ERROR or CRITICAL.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"scheduled_quiet": {"()": "geoportal.celery.ScheduledTaskLogQuiet"}},
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {
        # No "Sending due task", "received" or empty "succeeded" lines for beat's routine tasks; failures are logged.
        "celery.beat": {"filters": ["scheduled_quiet"]},
        "celery.worker.strategy": {"filters": ["scheduled_quiet"]},
        "celery.app.trace": {"filters": ["scheduled_quiet"]},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
}
