"""docker-compose.yml and the Dockerfiles, checked without a Docker engine: the services the
deployment needs, commands the CLI accepts, settings that exist, health checks, volumes,
the GPU reservation."""

from __future__ import annotations

import re
import shlex
import tomllib
from typing import Any

import pytest
import typer
import yaml

from app.cli import cli
from app.config import Settings
from tests.conftest import REPO_ROOT

COMPOSE = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
DOCFUSE_SERVICES = [name for name, s in SERVICES.items() if s.get("image", "").startswith("docf")]


def _command(name: str) -> list[str]:
    command = SERVICES[name]["command"]
    return command if isinstance(command, list) else shlex.split(command)


def _environment(name: str) -> dict[str, str]:
    return {key: str(value) for key, value in SERVICES[name].get("environment", {}).items()}


def test_the_deployment_has_every_service() -> None:
    assert set(SERVICES) == {
        "redis",
        "postgres",
        "migrate",
        "worker",
        "watcher",
        "ui",
        "worker-gpu",
    }
    assert set(DOCFUSE_SERVICES) == {"migrate", "worker", "watcher", "ui", "worker-gpu"}


@pytest.mark.parametrize("service", DOCFUSE_SERVICES)
def test_docfuse_commands_exist_with_their_options(service: str) -> None:
    program, name, *args = _command(service)
    assert program == "docfuse"
    commands = typer.main.get_command(cli).commands  # type: ignore[attr-defined]
    assert name in commands, f"{service}: no command docfuse {name}"
    commands[name].make_context(name, list(args))  # raises on an unknown option or value


@pytest.mark.parametrize("service", DOCFUSE_SERVICES)
def test_environment_names_are_settings(service: str) -> None:
    fields = {f"DOCFUSE_{name.upper()}" for name in Settings.model_fields}
    names = {name for name in _environment(service) if name.startswith("DOCFUSE_")}
    assert names and names <= fields
    values = {name.removeprefix("DOCFUSE_").lower(): v for name, v in _environment(service).items()
              if name.startswith("DOCFUSE_")}  # fmt: skip
    Settings(_env_file=None, **values)  # every value is valid for its setting


def test_services_share_the_data_and_model_volumes() -> None:
    for service in ("worker", "watcher", "ui", "worker-gpu"):
        environment = _environment(service)
        mounts = {m.split(":")[1]: m.split(":")[0] for m in SERVICES[service]["volumes"]}
        assert mounts[environment["DOCFUSE_DATA_DIR"]] == "docfuse-data", service
    assert "hf-cache:/hf-cache" in SERVICES["worker-gpu"]["volumes"]
    assert _environment("worker-gpu")["HF_HOME"] == "/hf-cache"
    assert set(COMPOSE["volumes"]) >= {"docfuse-data", "hf-cache", "redis-data"}


def test_health_checks_and_start_order() -> None:
    for service in ("redis", "postgres", "worker", "ui", "worker-gpu"):
        assert SERVICES[service]["healthcheck"]["test"], service
    assert SERVICES["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert SERVICES["migrate"]["restart"] == "no"
    for service in ("worker", "watcher", "ui", "worker-gpu"):
        depends = SERVICES[service]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        assert depends["redis"]["condition"] == "service_healthy"
    ping = SERVICES["worker"]["healthcheck"]["test"][1]
    assert "inspect ping -d docfuse1@$$HOSTNAME" in ping  # PID 1 is the exec'd worker


def test_redis_keeps_its_queue_on_disk_in_deployment() -> None:
    command = _command("redis")
    assert command[command.index("--appendonly") + 1] == "yes"
    assert "redis-data:/data" in SERVICES["redis"]["volumes"]


def test_cpu_worker_reads_both_queues_and_the_gpu_worker_holds_a_gpu() -> None:
    cpu, gpu = _command("worker"), _command("worker-gpu")
    assert cpu[cpu.index("--queues") + 1] == "cpu,gpu"
    assert gpu[gpu.index("--queues") + 1] == "gpu"
    assert SERVICES["worker-gpu"]["profiles"] == ["gpu"]
    assert "profiles" not in SERVICES["worker"]
    (device,) = SERVICES["worker-gpu"]["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]
    environment = _environment("worker-gpu")
    assert environment["DOCFUSE_ENGINE"] == "florence-vl"
    assert environment["DOCFUSE_DEVICE"] == "cuda"
    assert SERVICES["worker-gpu"]["build"]["dockerfile"] == "Dockerfile.gpu"


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "Dockerfile.gpu"])
def test_dockerfiles_install_the_pinned_torch_and_the_packages(dockerfile: str) -> None:
    text = (REPO_ROOT / dockerfile).read_text()
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    (torch_pin,) = [d for d in pyproject["project"]["dependencies"] if d.startswith("torch==")]
    assert torch_pin in text
    packages = set(pyproject["tool"]["setuptools"]["packages"]["find"]["include"])
    copied = set(re.findall(r"^COPY (\w+) \./\1$", text, re.MULTILINE))
    assert {p.rstrip("*") for p in packages} <= copied
    if dockerfile == "Dockerfile.gpu":
        assert '".[gpu]"' in text  # flash-attn
    else:
        assert "download.pytorch.org/whl/cpu" in text  # never the multi-GB CUDA wheel


def test_the_ui_listens_for_other_machines_behind_a_required_password() -> None:
    command = _command("ui")
    assert command[command.index("--host") + 1] == "0.0.0.0"
    port = command[command.index("--port") + 1]
    assert SERVICES["ui"]["ports"] == [f"{port}:{port}"]
    password = _environment("ui")["DOCFUSE_UI_PASSWORD"]
    assert re.fullmatch(r"\$\{DOCFUSE_UI_PASSWORD:\?[^}]+\}", password)  # no default: required
    assert f"127.0.0.1:{port}/_stcore/health" in " ".join(SERVICES["ui"]["healthcheck"]["test"])
