"""The container files: what they run must exist, and what they set must be read."""

import json
import shlex
from pathlib import Path

import yaml

from portal.cli import main
from portal.settings import DECLARED

ROOT = Path(__file__).parents[3]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")
SERVICES = COMPOSE["services"]
PORTAL_SERVICES = ("app", "worker", "init")
EVERY_INTERFACE = "0.0.0.0"  # noqa: S104 - what the tests expect a container to listen on


def _dockerfile(instruction: str) -> list[str]:
    lines = DOCKERFILE.replace("\\\n", " ").splitlines()
    return [line.split(None, 1)[1] for line in lines if line.startswith(instruction + " ")]


def _serve_host(command: list[str], environment: dict[str, str]) -> str:
    if "--host" in command:
        return command[command.index("--host") + 1]
    return environment.get("OPENDATA_HOST", "127.0.0.1")


def test_portal_services_set_only_settings_the_portal_reads():
    known = {setting.variable for setting in DECLARED} | {"OPENDATA_INSTANCE_PATH"}
    for name in PORTAL_SERVICES:
        unknown = set(SERVICES[name]["environment"]) - known
        assert unknown == set(), name


def test_portal_services_run_commands_that_exist():
    for name in PORTAL_SERVICES:
        command = SERVICES[name]["command"]
        assert command[0] == "opendata" and command[1] in main.commands, name


def test_the_app_listens_beyond_its_container_and_leaves_jobs_to_the_worker():
    app = SERVICES["app"]
    assert _serve_host(app["command"], app["environment"]) == EVERY_INTERFACE
    assert app["environment"]["OPENDATA_EMBEDDED_WORKER"] == "false"
    assert "OPENDATA_EMBEDDED_WORKER" not in SERVICES["worker"]["environment"]
    assert "healthcheck" in app


def test_the_image_serves_an_initialised_instance_beyond_its_container():
    environment = dict(
        pair.split("=", 1) for line in _dockerfile("ENV") for pair in shlex.split(line)
    )
    command = json.loads(_dockerfile("CMD")[-1])
    assert command[:2] == ["sh", "-c"]
    initialise, serve = command[2].split(" && ")
    assert initialise == "opendata init"
    serve = shlex.split(serve.removeprefix("exec "))
    assert serve[:2] == ["opendata", "serve"]
    assert _serve_host(serve, environment) == EVERY_INTERFACE
