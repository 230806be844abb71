"""Pure parts of the builder: emerge argv, log parsing, settings, state machine, index parsing."""

from __future__ import annotations

from pathlib import Path

import pytest

from provision.builder.plan import emerge_argv, emerged, failure_line, new_pass_id
from provision.builder.settings import BuildSettings, RootKind, RootSpec, parse_settings
from provision.builder.state import Phase, ProfileState, load_state, save_state
from provision.errors import ConfigError, PublishError
from provision.snapshots.verify import parse_manifest, parse_packages


def test_emerge_argv_updates_world_with_binary_packages() -> None:
    argv = emerge_argv(jobs=3)
    for opt in ("--update", "--deep", "--newuse", "--buildpkg", "--usepkg", "--keep-going"):
        assert opt in argv
    assert "--with-bdeps=y" in argv and "--ask=n" in argv and "--jobs=3" in argv
    assert argv[-1] == "@world"


LOG = """>>> Emerging (1 of 3) app-misc/hello-1.0-r1::provision-demo
>>> Emerging binary (2 of 3) dev-libs/libgreet-1.0::provision-demo
>>> Emerging (3 of 3) app-misc/greeter-1.1::provision-demo
 * ERROR: app-misc/greeter-1.1::provision-demo failed (compile phase):
 *   broken on purpose
"""


def test_log_parsing() -> None:
    assert emerged(LOG) == (
        ["app-misc/hello-1.0-r1", "app-misc/greeter-1.1"],
        ["dev-libs/libgreet-1.0"],
    )
    assert failure_line(LOG) == "app-misc/greeter-1.1 failed (compile phase)"
    assert failure_line("!!! All ebuilds that could satisfy x have been masked.\n") == (
        "All ebuilds that could satisfy x have been masked."
    )


def test_pass_ids_sort_by_time() -> None:
    a, b = new_pass_id(1_700_000_000), new_pass_id(1_700_000_001)
    assert a < b and a.startswith("20231114T221320Z-")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("", BuildSettings(), id="empty"),
        pytest.param(
            "keep = 2\nsync_interval = 60\njobs = 2\n"
            '[profile.x]\nroot = "stage"\nstage = "s.tar"\n',
            BuildSettings(
                2, 60.0, 2, RootSpec(), {"x": RootSpec(RootKind.STAGE, Path("/d/s.tar"))}
            ),
            id="per-profile-stage",
        ),
    ],
)
def test_parse_settings(text: str, expected: BuildSettings) -> None:
    assert parse_settings(text, "build.toml", Path("/d")) == expected


@pytest.mark.parametrize(
    ("text", "where"),
    [
        pytest.param("keep = 0\n", "build.toml: keep", id="keep-zero"),
        pytest.param('root = "chroot"\n', "build.toml: root", id="bad-root"),
        pytest.param('root = "stage"\n', "build.toml: stage", id="stage-without-tarball"),
        pytest.param("colour = 1\n", "build.toml: colour", id="unknown-key"),
        pytest.param(
            "[profile.x]\nfoo = 1\n", "build.toml: profile.x.foo", id="unknown-profile-key"
        ),
    ],
)
def test_parse_settings_refuses(text: str, where: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_settings(text, "build.toml", Path("/d"))
    assert str(err.value).startswith(where)


def test_state_machine_and_roundtrip(tmp_path: Path) -> None:
    st = ProfileState("p").to(Phase.SYNCING, pass_id="x").to(Phase.BUILDING)
    with pytest.raises(ValueError):
        st.to(Phase.PUBLISHED)
    held = st.to(Phase.HELD, error="boom")
    assert held.recovered() == held
    assert st.recovered().phase == Phase.IDLE  # interrupted pass
    save_state(tmp_path / "s.json", held)
    assert load_state(tmp_path / "s.json", "p") == held
    (tmp_path / "bad.json").write_text('{"phase": "flying"}')
    with pytest.raises(ConfigError):
        load_state(tmp_path / "bad.json", "p")


def test_parse_packages_and_manifest() -> None:
    index = parse_packages(
        "PACKAGES: 1\nVERSION: 0\n\nCPV: a/b-1\nPATH: a/b/b-1-1.gpkg.tar\nSIZE: 3\n"
    )
    assert index.header["PACKAGES"] == "1"
    assert index.cpvs() == ["a/b-1"]
    assert index.identity() == [("a/b/b-1-1.gpkg.tar", "3", "")]
    with pytest.raises(PublishError):
        parse_packages("garbage line\n")
    manifest = "DATA image.tar.zst 12 SHA512 abc BLAKE2B def\nIGNORE x\n"
    assert parse_manifest(manifest) == {"image.tar.zst": (12, "abc")}
