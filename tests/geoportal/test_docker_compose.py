"""docker/compose.yaml: its wiring (this machine has neither a Docker engine nor the compose plugin)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

COMPOSE_FILE = Path(__file__).resolve().parents[2] / "docker" / "compose.yaml"


def _compose_plugin_present() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "compose", "version"], capture_output=True, check=False).returncode == 0


def test_compose_file_wires_the_portal_to_its_own_services():
    services = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))["services"]

    assert set(services) == {"db", "redis", "web", "worker"}
    for name in ("web", "worker"):
        environment = services[name]["environment"]
        assert environment["DATABASE_URL"].endswith("@db:5432/geoportal")
        assert environment["REDIS_URL"] == "redis://redis:6379/0"
        # Secrets have no defaults: compose refuses to start without them.
        assert environment["DJANGO_SECRET_KEY"] == "${DJANGO_SECRET_KEY:?set DJANGO_SECRET_KEY}"
        assert services[name]["build"]["dockerfile"] == "docker/Dockerfile"
    assert "manage.py migrate" in services["web"]["command"]
    assert "manage.py roles_ensure" in services["web"]["command"]  # the planners group
    assert "manage.py tiles_restyle" in services["web"]["command"]  # tiles drawn the old way go
    assert "granian --interface wsgi geoportal.wsgi:application" in services["web"]["command"]
    assert (COMPOSE_FILE.parent / "Dockerfile").read_text(encoding="utf-8").count("GEOPORTAL_BOOTSTRAP=server") == 1


def test_the_web_health_check_asks_for_a_host_the_portal_allows():
    """It asked http://127.0.0.1:8000/healthz of a portal that allowed only localhost (or the operator's name): a 400,
    and the container was never healthy."""
    web = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))["services"]["web"]
    asked = re.search(r"http://([^:/]+)", " ".join(web["healthcheck"]["test"]))[1]

    for operators in ("", "geoportal.example.org"):  # the variable unset, and set
        allowed = re.sub(r"\$\{DJANGO_ALLOWED_HOSTS:-([^}]*)\}", lambda m, o=operators: o or m[1],
                         web["environment"]["DJANGO_ALLOWED_HOSTS"]).split(",")  # fmt: skip
        assert asked in allowed


@pytest.mark.skipif(not _compose_plugin_present(), reason="the docker compose plugin is not installed here")
def test_compose_client_accepts_the_file():
    environment = {"PATH": "/usr/local/bin:/usr/bin:/bin", "DJANGO_SECRET_KEY": "x" * 50, "POSTGRES_PASSWORD": "pw"}
    result = subprocess.run(
        ["docker", "compose", "-f", str(COMPOSE_FILE), "config", "--quiet"],
        capture_output=True,
        text=True,
        check=False,
        env=environment,
    )

    assert result.returncode == 0, result.stderr


def test_the_image_runs_the_portal_as_its_own_account_writing_only_under_its_var_folder(settings):
    dockerfile = (COMPOSE_FILE.parent / "Dockerfile").read_text(encoding="utf-8")
    var_dir = re.search(r"GEOPORTAL_VAR_DIR=(\S+)", dockerfile)[1]
    users = re.findall(r"^USER (\S+)$", dockerfile, flags=re.MULTILINE)

    assert users
    assert users[-1] not in {"root", "0"}
    assert f"--home-dir {var_dir} " in dockerfile
    assert f"-o {users[-1]} " in dockerfile
    # Celery beat kept its schedule in the working directory, the code's folder: not writable there.
    from geoportal.embedded.paths import VAR_DIR

    assert Path(settings.CELERY_BEAT_SCHEDULE_FILENAME).parent == VAR_DIR
