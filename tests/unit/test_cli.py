from __future__ import annotations

from pathlib import Path

import pytest

from provision.cli import absolute_paths, build_parser, main


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    rc = main(list(args))
    out, err = capsys.readouterr()
    return rc, out, err


def test_list(capsys: pytest.CaptureFixture[str], profiles_dir: Path) -> None:
    rc, out, _ = run_cli(capsys, "--profiles-dir", str(profiles_dir), "profiles", "list")
    assert rc == 0
    assert "laptop-amd64" in out and "inherits desktop-amd64" in out


def test_show_render(capsys: pytest.CaptureFixture[str], profiles_dir: Path) -> None:
    rc, out, _ = run_cli(
        capsys, "--profiles-dir", str(profiles_dir), "profiles", "show", "server-amd64", "--render"
    )
    assert rc == 0
    assert "==> etc/portage/make.conf <==" in out
    assert "==> var/lib/portage/world <==" in out


def test_unknown_profile_exit_2(capsys: pytest.CaptureFixture[str], profiles_dir: Path) -> None:
    rc, _, err = run_cli(capsys, "--profiles-dir", str(profiles_dir), "profiles", "show", "nope")
    assert rc == 2
    assert err.startswith("provision: error: unknown profile 'nope'")
    assert "Traceback" not in err and err.count("\n") == 1


def test_check_bad_file_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        'packages = ["nocategory"]\n[portage]\nprofile = "p"\n'
        '[[repositories]]\nname = "r"\nlocation = "."\n'
    )
    rc, _, err = run_cli(capsys, "profiles", "check", str(bad))
    assert rc == 2
    assert f"{bad}: packages[0]: 'nocategory' is not a valid package atom" in err


def test_usage_error_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["profiles", "frobnicate"])
    assert exc.value.code == 2


def test_paths_are_absolute_at_the_edge(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Relative paths (the Makefile's `--data-dir var/demo`) become absolute before any command
    sees them, normalised; lists of paths too; non-path values stay as they are."""
    monkeypatch.chdir(tmp_path)
    argv = ["--data-dir", "var/demo", "--profiles-dir", "a/../profiles"]
    args = absolute_paths(build_parser().parse_args([*argv, "iso", "p", "-o", "out.iso"]))
    assert args.data_dir == tmp_path / "var/demo"
    assert args.profiles_dir == tmp_path / "profiles"
    assert args.output == tmp_path / "out.iso" and args.profile == "p"
    checked = absolute_paths(build_parser().parse_args(["profiles", "check", "x.toml", "/y.toml"]))
    assert checked.paths == [tmp_path / "x.toml", Path("/y.toml")]


def test_default_data_dir_is_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PROVISION_DATA_DIR", "rel/data")
    args = absolute_paths(build_parser().parse_args(["status"]))
    assert args.data_dir == tmp_path / "rel/data"
