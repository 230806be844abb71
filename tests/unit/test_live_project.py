"""The live environment carries this project from a checkout or from an installed wheel."""

from __future__ import annotations

from pathlib import Path

import pytest

from provision.errors import ConfigError
from provision.live.build import project_dependencies, project_source, runtime_requirements

ROOT = Path(__file__).resolve().parents[2]


def test_checkout_source_and_dependencies() -> None:
    assert project_source() == ROOT
    deps = project_dependencies(ROOT)
    assert "portage==3.0.83" in deps and not any("pytest" in d for d in deps)


def test_installed_metadata_without_extras() -> None:
    requires = ["portage==3.0.83", "flask>=3.0", 'pytest>=8; extra == "test"', "ruff; extra=='x'"]
    assert runtime_requirements(requires) == ["portage==3.0.83", "flask>=3.0"]


def test_no_package_there(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no provision package there"):
        project_source(tmp_path)
