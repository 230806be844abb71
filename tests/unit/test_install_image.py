"""The image step's pure parts: image or per-package, what goes on top, the merge into a root."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest

from provision.commands.install import find_server, register
from provision.errors import ConfigError
from provision.image.manifest import ImageError
from provision.image.unpack import existing_dir
from provision.image.unpack import move_into_place as merge_tree
from provision.install.config import config_document, parse_atoms, parse_config
from provision.install.steps import ORDER
from provision.install.steps.image import NONE, choose, signature_location
from provision.install.steps.packages import beyond_image, merged_world
from provision.profiles import ProfileSet


def test_image_comes_before_the_per_host_steps() -> None:
    assert ORDER.index("stage") < ORDER.index("image") < ORDER.index("portage")
    assert ORDER.index("image") < ORDER.index("packages") < ORDER.index("kernel")


@pytest.mark.parametrize(
    ("source", "present", "available", "reason"),
    [
        pytest.param("http://s/image/p/current", True, True, "", id="url-found"),
        pytest.param("http://s/image/p/current", False, False, "manifest.asc missing", id="404"),
        pytest.param("/media/provision/snapshot/image", True, True, "", id="medium"),
        pytest.param("", True, False, "offers no system image", id="none-offered"),
        pytest.param(NONE, True, False, "offers no system image", id="forced-off"),
    ],
)
def test_choose(source: str, present: bool, available: bool, reason: str) -> None:
    asked: list[str] = []

    def probe(location: str) -> bool:
        asked.append(location)
        return present

    found = choose(source, probe)
    assert found.available is available and reason in found.reason
    if source and source != NONE:
        assert asked == [signature_location(source)]
    else:
        assert asked == []


def test_signature_location() -> None:
    assert signature_location("http://s/image/p/current/") == (
        "http://s/image/p/current/system.tar.zst.manifest.asc"
    )
    assert signature_location("/m/image") == "/m/image/system.tar.zst.manifest.asc"


@pytest.mark.parametrize(
    ("wanted", "world", "expected"),
    [
        pytest.param(["@system", "a/b", "c/d"], "a/b\nc/d\n", [], id="all-in-image"),
        pytest.param(["@system", "a/b", "x/extra"], "a/b\n", ["x/extra"], id="host-extra"),
        pytest.param(["@system", "a/b", "n/new"], "# c\na/b\n", ["n/new"], id="profile-newer"),
    ],
)
def test_beyond_image(wanted: list[str], world: str, expected: list[str]) -> None:
    assert beyond_image(wanted, world) == expected


def test_merged_world() -> None:
    assert merged_world("z/z\na/b\n", "a/b\nc/d\n") == "a/b\nc/d\nz/z\n"
    assert merged_world("", "") == ""


@pytest.mark.parametrize(
    ("text", "atoms"),
    [
        pytest.param("", (), id="empty"),
        pytest.param("app-misc/greeter, >=dev-libs/libgreet-1.0\n", (
            "app-misc/greeter", ">=dev-libs/libgreet-1.0"), id="list"),
    ],
)  # fmt: skip
def test_parse_atoms(text: str, atoms: tuple[str, ...]) -> None:
    assert parse_atoms(text) == atoms


@pytest.mark.parametrize("bad", ["--oneshot", "a/b;rm", "$(x)"])
def test_parse_atoms_refuses(bad: str) -> None:
    with pytest.raises(ConfigError, match=r"settings\.packages"):
        parse_atoms(bad)


def test_config_carries_image_and_extra_packages(profiles_dir: Path) -> None:
    profile = ProfileSet(profiles_dir).get("server-amd64")
    doc = config_document(
        host_id="52:54:00:00:00:01",
        hostname="h",
        profile=profile,
        settings={"packages": "app-misc/greeter"},
        base_url="http://srv:8080",
        wipe=False,
        image_url="http://srv:8080/image/server-amd64/current",
    )
    config = parse_config(doc)
    assert config.sources.image_url == "http://srv:8080/image/server-amd64/current"
    assert config.settings.packages == ("app-misc/greeter",)


def test_merge_follows_directory_links_inside_the_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "usr/sbin").mkdir(parents=True)
    (root / "sbin").symlink_to("usr/sbin")  # merged /usr, relative
    (root / "lib").symlink_to("/usr/lib")  # absolute: relative to the root, not the host
    (root / "usr/lib").mkdir()
    (root / "etc").mkdir()
    (root / "etc/old").write_text("old")
    (root / "etc/link").symlink_to("old")
    staging = root / ".staging"
    files = {
        "sbin/init": "init",
        "lib/libx.so": "x",
        "etc/old": "new",
        "etc/link": "file now",
        "var/db/pkg/a/b-1/CONTENTS": "c",
    }
    for rel, text in files.items():
        (staging / rel).parent.mkdir(parents=True, exist_ok=True)
        (staging / rel).write_text(text)
    merge_tree(staging, root)
    assert (root / "usr/sbin/init").read_text() == "init"
    assert (root / "sbin").is_symlink() and (root / "lib").is_symlink()
    assert (root / "usr/lib/libx.so").read_text() == "x"
    assert (root / "etc/old").read_text() == "new"
    assert not (root / "etc/link").is_symlink() and (root / "etc/link").read_text() == "file now"
    assert (root / "var/db/pkg/a/b-1/CONTENTS").is_file()
    assert not staging.exists()


def test_links_out_of_the_root_are_not_followed(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "escape").symlink_to(os.path.relpath(outside, root))
    assert existing_dir(root / "escape", root) is None
    (root / "loop").symlink_to("loop")
    assert existing_dir(root / "loop", root) is None
    staging = root / ".staging"
    (staging / "escape").mkdir(parents=True)
    (staging / "escape/f").write_text("x")
    merge_tree(staging, root)  # the link is replaced by the image's directory
    assert not (root / "escape").is_symlink() and (root / "escape/f").is_file()
    assert list(outside.iterdir()) == []


def test_file_over_directory_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc/conf.d").mkdir(parents=True)
    staging = root / ".staging"
    (staging / "etc").mkdir(parents=True)
    (staging / "etc/conf.d").write_text("a file")
    with pytest.raises(ImageError, match="a directory in the target, a file in the image"):
        merge_tree(staging, root)


def _args(tmp_path: Path, *argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    return parser.parse_args(["install", "--resolv-conf", str(tmp_path / "resolv.conf"), *argv])


def test_server_from_option_or_cmdline_needs_no_dns(tmp_path: Path) -> None:
    # no resolv.conf at all: DNS is not consulted when the server is given
    assert find_server(_args(tmp_path, "--server", "http://a:1"), "") == "http://a:1"
    assert find_server(_args(tmp_path), "quiet provision.server=http://b:2") == "http://b:2"
    with pytest.raises(ConfigError, match="no nameserver"):
        find_server(_args(tmp_path), "quiet")
