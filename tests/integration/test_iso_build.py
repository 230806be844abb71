"""`provision iso` end to end with the real tools: pycdlib reopens the image, xorriso and gdisk
read its boot records, bad input leaves nothing behind."""

from __future__ import annotations

import io
import os
import resource
import signal
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pycdlib
import pytest

from provision.errors import ConfigError
from provision.iso.plan import IsoPlan
from provision.iso.writer import write_iso
from provision.run import run
from provision.server.store import Store
from tests.conftest import PROFILES
from tests.integration.iso_fixtures import (
    MAC,
    SERVER,
    iso_cli,
    make_data_dir,
    make_snapshot,
    read_rr,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield make_data_dir(tmp_path_factory.mktemp("iso-data"))


def test_per_host_image_round_trip(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "ws1.iso"
    rc = iso_cli(
        data,
        "desktop-amd64",
        "--host",
        MAC,
        "--hostname",
        "ws1",
        "--server",
        SERVER,
        "-o",
        str(out),
    )
    assert rc == 0
    store = Store.in_data_dir(data)
    host = store.host(MAC)
    store.close()
    assert (host.profile, host.hostname) == ("desktop-amd64", "ws1")

    cfg = tomllib.loads(read_rr(out, "/provision/config.toml").decode())
    assert cfg["server"] == SERVER
    assert (cfg["profile"], cfg["mac"], cfg["hostname"]) == ("desktop-amd64", MAC, "ws1")
    assert cfg["token"] == host.token and len(host.token) > 20
    assert cfg["public_key"] == (data / "keys" / "public.asc").read_text()
    assert read_rr(out, "/provision/server.asc") == (data / "keys" / "public.asc").read_bytes()
    assert read_rr(out, "/boot/vmlinuz") == (data / "live" / "vmlinuz").read_bytes()
    menu = read_rr(out, "/isolinux/isolinux.cfg").decode()
    assert f"provision.token={host.token}" in menu
    assert f"provision.token={host.token}" in read_rr(out, "/boot/grub/grub.cfg").decode()

    res = run(["xorriso", "-indev", str(out), "-report_el_torito", "plain"])
    report = res.stdout + res.stderr  # the "Boot record" summary goes to stderr
    boot_lines = [
        line.split() for line in report.splitlines() if line.startswith("El Torito boot img :")
    ]
    assert [(f[5], f[6]) for f in boot_lines] == [("1", "BIOS"), ("2", "UEFI")]
    assert "El Torito img path :   1  /isolinux/isolinux.bin" in report
    assert "El Torito img path :   2  /boot/efi.img" in report
    assert "isohybrid-suitable" in report
    assert "Boot record  : El Torito , MBR isohybrid cyl-align-on GPT" in report

    # USB: the MBR's partition 2 is the ESP; the GPT is valid (CRCs repaired).
    sfdisk = run(["sfdisk", "--dump", str(out)]).stdout
    assert "type=ef" in sfdisk
    gdisk = run(["gdisk", "-l", str(out)], input="1\n", check=False).stdout
    assert "GPT: present" in gdisk and "Found valid MBR and GPT" in gdisk
    # The ESP holds GRUB; mtools reads it out of the image.
    esp = tmp_path / "esp.img"
    esp.write_bytes(read_rr(out, "/boot/efi.img"))
    listing = run(["mdir", "-i", str(esp), "::/EFI/BOOT"], extra_env={"MTOOLS_SKIP_CHECK": "1"})
    assert "BOOTX64  EFI" in listing.stdout


def test_second_image_reuses_the_base(data: Path, tmp_path: Path) -> None:
    a, b = tmp_path / "a.iso", tmp_path / "b.iso"
    assert iso_cli(data, "desktop-amd64", "--server", SERVER, "-o", str(a)) == 0
    esp = sorted((data / "cache" / "iso").glob("esp-*.img"))
    assert len(esp) == 1
    stamp = esp[0].stat().st_mtime_ns
    assert (
        iso_cli(data, "desktop-amd64", "--hostname", "new-box", "--server", SERVER, "-o", str(b))
        == 0
    )
    assert esp[0].stat().st_mtime_ns == stamp  # not rebuilt
    assert sorted((data / "cache" / "iso").glob("esp-*.img")) == esp
    assert read_rr(a, "/boot/efi.img") == read_rr(b, "/boot/efi.img") == esp[0].read_bytes()
    generic = tomllib.loads(read_rr(a, "/provision/config.toml").decode())
    by_name = tomllib.loads(read_rr(b, "/provision/config.toml").decode())
    assert (generic["mac"], generic["hostname"], generic["token"]) == ("", "", "")
    # A new name: an enrollment medium (no MAC yet, so no token; see docs/iso.md).
    assert (by_name["mac"], by_name["hostname"], by_name["token"]) == ("", "new-box", "")
    assert "provision.host=new-box" in read_rr(b, "/isolinux/isolinux.cfg").decode()


def test_hostname_of_a_known_host_uses_its_token(data: Path, tmp_path: Path) -> None:
    store = Store.in_data_dir(data)
    host = store.upsert_host("52:54:00:00:00:77", profile="desktop-amd64", hostname="known")
    store.close()
    out = tmp_path / "known.iso"
    assert (
        iso_cli(data, "desktop-amd64", "--hostname", "known", "--server", SERVER, "-o", str(out))
        == 0
    )
    cfg = tomllib.loads(read_rr(out, "/provision/config.toml").decode())
    assert (cfg["mac"], cfg["token"]) == (host.mac, host.token)


def test_offline_image_carries_the_snapshot(data: Path, tmp_path: Path) -> None:
    root = tmp_path / "d"
    snap = make_snapshot(root)
    stage = tmp_path / "stage3-amd64.tar.xz"
    stage.write_bytes(b"not really a stage")
    out = tmp_path / "offline.iso"
    rc = iso_cli(
        data,
        "desktop-amd64",
        "--server",
        SERVER,
        "--offline-from",
        str(root / "snapshots" / "desktop-amd64" / "current"),
        "--stage",
        str(stage),
        "-o",
        str(out),
    )
    assert rc == 0
    cfg = tomllib.loads(read_rr(out, "/provision/config.toml").decode())
    assert cfg["offline"] is True
    assert cfg["snapshot"] == "20240101-000000"
    assert cfg["binhost"] == "/provision/snapshot/binhost"
    assert cfg["repo"] == "/provision/snapshot/repo"
    assert cfg["stage"] == "/provision/stage/stage3-amd64.tar.xz"
    pkg = "binhost/app-misc/hello/hello-1.0-1.gpkg.tar"
    assert read_rr(out, f"/provision/snapshot/{pkg}") == (snap / pkg).read_bytes()
    assert read_rr(out, "/provision/snapshot/repo/profiles/repo_name") == b"demo\n"
    assert read_rr(out, "/provision/stage/stage3-amd64.tar.xz") == b"not really a stage"
    assert "DEFAULT offline" in read_rr(out, "/isolinux/isolinux.cfg").decode()
    # xorriso agrees on the Rock Ridge names.
    found = run(["xorriso", "-indev", str(out), "-find", "/provision/snapshot", "-type", "f"])
    assert f"'/provision/snapshot/{pkg}'" in found.stdout


def test_names_modes_and_data_round_trip_through_two_readers(data: Path, tmp_path: Path) -> None:
    """Long names (past what a directory record holds: continued in a Rock Ridge continuation
    area), non-ASCII names and names that are not UTF-8, empty files, file modes: xorriso
    extracts the tree by Rock Ridge and pycdlib reads it by Joliet; both give back every file
    byte for byte."""
    snap = tmp_path / "snap"
    files = {
        "binhost/Packages": (b"PACKAGES: 3\n", 0o644),
        f"binhost/app-misc/{'long' * 50}-1.0-1.gpkg.tar": (os.urandom(5000), 0o644),
        "binhost/app-misc/ünïcødé-1.0-1.gpkg.tar": (b"u" * 3, 0o600),
        "binhost/dev-lang/python/python-3.12.1-1.gpkg.tar": (os.urandom(300_000), 0o644),
        "binhost/empty": (b"", 0o644),
        os.fsdecode(b"binhost/latin1-caf\xe9.txt"): (b"not UTF-8", 0o644),  # Rock Ridge: bytes
        "repo/profiles/repo_name": (b"demo\n", 0o644),
    }
    for rel, (content, mode) in files.items():
        path = snap / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        path.chmod(mode)
    out = tmp_path / "names.iso"
    rc = iso_cli(
        data, "desktop-amd64", "--server", SERVER, "--offline-from", str(snap), "-o", str(out)
    )
    assert rc == 0
    back = tmp_path / "back"
    run(
        [
            "xorriso",
            "-osirrox",
            "on",
            "-indev",
            str(out),
            "-extract",
            "/provision/snapshot",
            str(back),
        ]
    )
    got = {p.relative_to(back).as_posix(): p for p in back.rglob("*") if p.is_file()}
    assert set(got) == set(files)
    for rel, (content, mode) in files.items():
        assert got[rel].read_bytes() == content, rel
        assert got[rel].stat().st_mode & 0o777 == mode, rel
    iso = pycdlib.PyCdlib()
    iso.open(str(out))
    try:
        joliet = {
            f"{top}/{name}"
            for top, _, names in iso.walk(joliet_path="/provision/snapshot")
            for name in names
        }
        assert "/provision/snapshot/binhost/app-misc/ünïcødé-1.0-1.gpkg.tar" in joliet
        assert "/provision/snapshot/binhost/latin1-caf_.txt" in joliet  # Joliet: UCS-2 only
        assert all(len(p.rsplit("/", 1)[1]) <= 64 for p in joliet)  # Joliet's limit
        buf = io.BytesIO()
        iso.get_file_from_iso_fp(
            buf, joliet_path="/provision/snapshot/binhost/dev-lang/python/python-3.12.1-1.gpkg.tar"
        )
        assert buf.getvalue() == files["binhost/dev-lang/python/python-3.12.1-1.gpkg.tar"][0]
    finally:
        iso.close()


def test_offline_uses_the_current_snapshot(data: Path, tmp_path: Path) -> None:
    make_snapshot(data)  # DATA_DIR/snapshots/desktop-amd64/current -> 20240101-000000
    out = tmp_path / "o.iso"
    assert iso_cli(data, "desktop-amd64", "--offline", "--server", SERVER, "-o", str(out)) == 0
    cfg = tomllib.loads(read_rr(out, "/provision/config.toml").decode())
    assert cfg["snapshot"] == "20240101-000000"


def no_leftovers(directory: Path, before: set[str]) -> None:
    assert {p.name for p in directory.iterdir()} == before


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        pytest.param(["nosuch-profile"], "unknown profile 'nosuch-profile'", id="unknown-profile"),
        pytest.param(
            ["desktop-amd64", "--syslinux-dir", "{empty}"],
            "isolinux.bin: BIOS bootloader",
            id="no-isolinux",
        ),
        pytest.param(
            ["desktop-amd64", "--grub-efi-dir", "{empty}"],
            "linux.mod: GRUB for x86_64-efi",
            id="no-grub",
        ),
        pytest.param(
            ["desktop-amd64", "--live-dir", "{empty}"],
            "vmlinuz: live environment missing",
            id="no-live",
        ),
        pytest.param(
            ["desktop-amd64", "--public-key", "{empty}/k.asc"], "k.asc: no such file", id="no-key"
        ),
        pytest.param(["desktop-amd64", "--host", "52:54:00"], "is not a MAC address", id="bad-mac"),
        pytest.param(
            ["desktop-amd64", "--hostname", "Bad_Name"], "not a valid host name", id="bad-hostname"
        ),
        pytest.param(
            ["desktop-amd64", "--offline-from", "{empty}"], "no published binhost", id="no-snapshot"
        ),
        pytest.param(
            ["desktop-amd64", "--server", "ftp://x"], "not an http(s) URL", id="bad-server"
        ),
        pytest.param(
            ["desktop-amd64", "-o", "{empty}/missing/x.iso"],
            "its directory does not exist",
            id="no-out-dir",
        ),
    ],
)
def test_bad_input(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    args = [a.replace("{empty}", str(empty)) for a in extra]
    if "-o" not in args:
        args += ["-o", str(tmp_path / "x.iso")]
    if "--server" not in args:
        args += ["--server", SERVER]
    before = {p.name for p in tmp_path.iterdir()}
    assert iso_cli(data, *args) == 2
    err = capsys.readouterr().err
    assert err.startswith("provision: error: ") and message in err, err
    assert err.count("\n") == 1
    no_leftovers(tmp_path, before)


def test_missing_public_key_and_server(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    data.mkdir()
    assert iso_cli(data, "desktop-amd64", "-o", str(tmp_path / "x.iso")) == 2
    assert "no server URL: pass --server URL or set base_url" in capsys.readouterr().err
    (data / "server.toml").write_text(f'base_url = "{SERVER}"\n')
    assert iso_cli(data, "desktop-amd64", "-o", str(tmp_path / "x.iso")) == 2
    assert "the server's public key is missing" in capsys.readouterr().err
    assert not (tmp_path / "x.iso").exists()


def test_interrupted_write_leaves_nothing(data: Path, tmp_path: Path) -> None:
    """An error half-way through streaming (here: from the progress callback) removes the temp
    file and never creates the output."""
    from provision.iso.build import IsoRequest, plan_request

    out = tmp_path / "x.iso"
    plan: IsoPlan = plan_request(IsoRequest(data, PROFILES, "desktop-amd64", out, server=SERVER))
    seen: list[int] = []

    def boom(done: int, total: int) -> None:
        seen.append(done)
        if done > total // 2:
            raise RuntimeError("disk pulled")

    with pytest.raises(RuntimeError, match="disk pulled"):
        write_iso(plan, out, boom)
    assert seen and 0 < seen[-1] < plan.data_size + 2 * 1024 * 1024
    assert list(tmp_path.iterdir()) == []


def test_a_file_that_shrinks_while_written_leaves_nothing(data: Path, tmp_path: Path) -> None:
    """The layout is made from the sizes the plan saw; a snapshot file that is shorter when its
    data is copied is an error naming it, and no image is left (no hole in place of data)."""
    from provision.iso.build import IsoRequest, plan_request

    snap = tmp_path / "snap"
    (snap / "binhost").mkdir(parents=True)
    pkg = snap / "binhost" / "a-1.gpkg.tar"
    pkg.write_bytes(os.urandom(100_000))
    out = tmp_path / "out" / "x.iso"
    out.parent.mkdir()
    plan = plan_request(
        IsoRequest(data, PROFILES, "desktop-amd64", out, server=SERVER, offline_from=snap)
    )
    pkg.write_bytes(b"short")
    with pytest.raises(ConfigError, match="changed while the image was written"):
        write_iso(plan, out)
    assert list(out.parent.iterdir()) == []


def test_output_too_large_for_the_disk(data: Path, tmp_path: Path) -> None:
    """A write that fails with an OS error (file size limit: as ENOSPC would) is one line,
    exit 2, and leaves no file."""
    out = tmp_path / "x.iso"

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (2 * 1024 * 1024, 2 * 1024 * 1024))

    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "provision",
            "--data-dir",
            str(data),
            "--profiles-dir",
            str(PROFILES),
            "iso",
            "desktop-amd64",
            "--server",
            SERVER,
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        preexec_fn=limit,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith(f"provision: error: {out}: cannot write: File too large")
    assert proc.stderr.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_progress_is_reported(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "p.iso"
    for base in (data / "cache" / "iso").glob("base-*"):  # mastered, not copied from a base
        base.unlink()
    assert iso_cli(data, "desktop-amd64", "--server", SERVER, "--progress", "-o", str(out)) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[-1].startswith("p.iso: 100% (")
    assert len(err) >= 5
