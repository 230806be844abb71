"""What a no-op pass skips: a second emerge run without preserved libraries, rewriting
unchanged config files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from provision.builder.job import PRESERVED_LIBS_REGISTRY, preserved_libs
from provision.fsutil import write_if_changed


@pytest.mark.parametrize(
    ("content", "want"),
    [
        pytest.param(None, False, id="no-registry"),
        pytest.param("", False, id="empty-file"),
        pytest.param("{}", False, id="empty-json"),
        pytest.param(
            json.dumps({"dev-libs/a:0": ["dev-libs/a-2", "7", ["/usr/lib64/liba.so.1"]]}),
            True,
            id="a-kept-library",
        ),
        pytest.param(
            json.dumps({"dev-libs/a:0": ["dev-libs/a-2", "7", []]}), False, id="none-kept"
        ),
        pytest.param("{not json", True, id="unreadable-runs-the-rebuild"),
    ],
)
def test_preserved_libs(tmp_path: Path, content: str | None, want: bool) -> None:
    if content is not None:
        (tmp_path / PRESERVED_LIBS_REGISTRY).parent.mkdir(parents=True)
        (tmp_path / PRESERVED_LIBS_REGISTRY).write_text(content)
    assert preserved_libs(tmp_path) is want


def test_write_if_changed_leaves_equal_files_alone(tmp_path: Path) -> None:
    path = tmp_path / "etc" / "make.conf"
    assert write_if_changed(path, "A=1\n")
    os.utime(path, ns=(1, 1))
    assert not write_if_changed(path, "A=1\n")
    assert path.stat().st_mtime_ns == 1
    assert write_if_changed(path, "A=2\n") and path.read_text() == "A=2\n"
    assert write_if_changed(path, "A=2\n", mode=0o600) and path.stat().st_mode & 0o777 == 0o600
