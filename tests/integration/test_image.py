"""System images with real Portage and real GnuPG: equal to a per-package merge, verified while
streamed, refused when corrupt, and updated later by a normal emerge -uDN @world."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from provision.image.manifest import ImageError
from provision.image.pack import build_image, files_in, merge_argv, merge_into
from provision.image.unpack import STAGING, install_image
from provision.portage.render import render_world
from provision.profiles import ProfileSet
from provision.run import run
from provision.signing import create_key, stop_agents
from tests.conftest import DEMO_REPO
from tests.integration.portage_env import demo_prefix


def tree(root: Path) -> dict[str, str]:
    """Every path under root -> its kind and content identity (COUNTER and logs left out)."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if (
            path.name in ("COUNTER", "counter")
            or "/var/log/" in f"/{rel}"
            or rel.endswith("mtimedb")
        ):
            continue
        if path.is_symlink():
            out[rel] = "link:" + str(path.readlink())
        elif path.is_dir():
            out[rel] = "dir"
        else:
            out[rel] = (
                path.read_bytes().hex()[:64] + f":{path.stat().st_size}:{oct(path.stat().st_mode)}"
            )
    return out


def installed(root: Path, eprefix: str) -> list[str]:
    vdb = root / eprefix / "var/db/pkg"
    return sorted(f"{c.name}/{p.name}" for c in vdb.iterdir() for p in c.iterdir())


def test_image_equals_per_package_merge(tmp_path: Path, profiles_dir: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(DEMO_REPO, repo)
    profile = ProfileSet(profiles_dir).get("desktop-amd64")
    builder, pkgdir = demo_prefix(tmp_path / "builder", profile, repo=repo)
    builder.run("emerge", ["--ask=n", "@system", "@world"], log_path=tmp_path / "build.log")
    key = create_key(tmp_path / "keys")
    try:
        world = render_world(profile)
        out = tmp_path / "snapshot" / "image"

        def merge(root: Path) -> None:
            merge_into(builder, root, pkgdir=pkgdir, world=world, log_path=tmp_path / "m.log")

        files = build_image(merge, out_dir=out, key=key, work=tmp_path / "work")
        assert files == files_in(out) and files.signature.read_text().startswith(
            "-----BEGIN PGP SIGNATURE"
        )

        by_image = tmp_path / "t-image"
        manifest = install_image(str(out), by_image, key.verify_home)
        assert manifest.size == files.image.stat().st_size
        by_emerge = tmp_path / "t-emerge"
        by_emerge.mkdir()
        merge_into(builder, by_emerge, pkgdir=pkgdir, world=world, log_path=tmp_path / "merge2.log")

        eprefix = str(builder.root).lstrip("/")
        assert installed(by_image, eprefix) == installed(by_emerge, eprefix)
        assert "app-misc/greeter-1.0" in installed(
            by_image, eprefix
        ) and "sys-apps/demo-base-1.0" in installed(by_image, eprefix)
        assert tree(by_image) == tree(by_emerge)
        assert not (by_image / STAGING).exists()
        greeting = run(
            [by_image / eprefix / "usr/bin/greeter"], extra_env={"LD_LIBRARY_PATH": ""}
        ).stdout
        assert greeting.startswith("greetings from libgreet")

        # a later binhost update applies on top with a normal emerge -uDN @world
        (repo / "app-misc/hello/hello-1.0.ebuild").rename(repo / "app-misc/hello/hello-1.1.ebuild")
        builder.run(
            "emerge", ["--ask=n", "--update", "@world", "@system"], log_path=tmp_path / "build2.log"
        )
        builder.run(
            "emerge",
            merge_argv(),
            extra_env={"ROOT": str(by_image), "PKGDIR": str(pkgdir)},
            log_path=tmp_path / "update.log",
        )
        assert "app-misc/hello-1.1" in installed(
            by_image, eprefix
        ) and "app-misc/hello-1.0" not in installed(by_image, eprefix)

        # corrupt image: refused, nothing written into the target
        data = bytearray(files.image.read_bytes())
        data[len(data) // 2] ^= 0xFF
        files.image.write_bytes(bytes(data))
        fresh = tmp_path / "t-corrupt"
        fresh.mkdir()
        with pytest.raises(ImageError, match="is corrupt"):
            install_image(str(out), fresh, key.verify_home)
        assert list(fresh.iterdir()) == []

        # a manifest altered after signing: refused before the image is read
        files.manifest.write_text(files.manifest.read_text().replace("profile ", "profile x"))
        with pytest.raises(ImageError, match="does not verify"):
            install_image(str(out), fresh, key.verify_home)
        assert list(fresh.iterdir()) == []
    finally:
        stop_agents(tmp_path / "keys")
