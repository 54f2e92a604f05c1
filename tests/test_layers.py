"""DESIGN.md's layers, enforced: who may import whom, read from every module's imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

FORBIDDEN = {
    "model": {"app", "pipeline", "workers", "ui", "sqlalchemy", "celery", "streamlit"},
    "pipeline": {"app", "workers", "ui", "sqlalchemy", "celery", "streamlit"},
    "app": {"workers", "ui", "streamlit"},
    "workers": {"ui", "streamlit", "app.evaluation", "app.cli"},
    "ui": {"torch", "transformers", "model", "celery", "kombu", "workers", "app.evaluation"},
}


def _imports(path: Path) -> set[str]:
    """Every module a file imports, with each of its parents ("app.evaluation.run" also
    counts as "app.evaluation" and "app")."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
    return {".".join(m.split(".")[: i + 1]) for m in modules for i in range(m.count(".") + 1)}


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_imports_respect_the_layers(package: str) -> None:
    modules = sorted((REPO_ROOT / package).rglob("*.py"))
    assert modules, f"no modules under {package}/"
    breaches = {
        str(path.relative_to(REPO_ROOT)): sorted(_imports(path) & FORBIDDEN[package])
        for path in modules
    }
    assert {path: names for path, names in breaches.items() if names} == {}


def test_the_app_sends_tasks_by_name_only() -> None:
    """The app reaches Celery through app/broker.py alone, never through workers/."""
    users = sorted(
        str(path.relative_to(REPO_ROOT))
        for path in (REPO_ROOT / "app").rglob("*.py")
        if "celery" in _imports(path)
    )
    assert users == ["app/broker.py"]


def test_torch_is_imported_only_where_a_model_runs() -> None:
    """The app and the extractive path never pull torch in at import time."""
    allowed = {"pipeline/engines/florence_vl.py"}
    offenders = [
        str(path.relative_to(REPO_ROOT))
        for package in ("app", "pipeline")
        for path in (REPO_ROOT / package).rglob("*.py")
        if "torch" in _imports(path) and str(path.relative_to(REPO_ROOT)) not in allowed
    ]
    assert offenders == []
