"""Secure Boot with the real tools: the server's key (openssl), the GRUB it signs (grub-mkimage,
sbsign, checked with sbverify), what the server offers installs, and the live medium's chain."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from provision.errors import ConfigError
from provision.install.config import SECURE_BOOT_FILES, parse_config
from provision.iso.secureboot import STUB_PATH
from provision.run import run
from provision.secureboot import files, pe
from provision.secureboot import key as sbkey
from provision.secureboot.grub import signed_grub
from provision.server.app import create_app
from provision.server.settings import ServerSettings
from provision.server.store import Store
from tests.conftest import PROFILES
from tests.integration.build_fixtures import provision
from tests.integration.iso_fixtures import SERVER, iso_cli, make_data_dir, read_rr

pytestmark = pytest.mark.integration
MTOOLS = {"MTOOLS_SKIP_CHECK": "1"}


def test_key_made_once_private_and_importable(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    made = sbkey.ensure(keys)
    assert stat.S_IMODE(made.key.stat().st_mode) == 0o600
    assert stat.S_IMODE(made.directory.stat().st_mode) == 0o700
    assert sbkey.ensure(keys).key.read_bytes() == made.key.read_bytes()  # not made again
    with pytest.raises(ConfigError, match="refusing to replace it"):
        sbkey.create(keys)
    der = run(["openssl", "x509", "-inform", "DER", "-in", str(made.der), "-noout", "-subject"])
    assert "provision Secure Boot signing key" in der.stdout
    # bring your own: the same key and certificate into another data dir
    other = tmp_path / "other"
    imported = sbkey.import_key(other, made.key, made.cert)
    assert imported.der.read_bytes() == made.der.read_bytes()
    assert stat.S_IMODE(imported.key.stat().st_mode) == 0o600


def test_import_refuses_a_certificate_of_another_key(tmp_path: Path) -> None:
    a, b = sbkey.create(tmp_path / "a"), sbkey.create(tmp_path / "b")
    with pytest.raises(ConfigError, match="is not the certificate of"):
        sbkey.import_key(tmp_path / "c", a.key, b.cert)
    with pytest.raises(ConfigError, match="not an unencrypted PEM private key"):
        sbkey.import_key(tmp_path / "d", a.cert, a.cert)
    assert not (tmp_path / "c" / "secureboot" / "db.key").exists()


def test_cli(tmp_path: Path) -> None:
    data = tmp_path / "data"
    missing = provision(data, "secureboot-key", check=False)
    assert missing.returncode == 2 and "no Secure Boot key" in missing.stderr
    made = provision(data, "secureboot-key", "--create")
    assert "sha256:" in made.stdout and "(0600)" in made.stdout
    pem = provision(data, "secureboot-key", "--export").stdout
    assert pem.startswith("-----BEGIN CERTIFICATE-----")


def test_signed_grub_verifies_with_the_servers_certificate(tmp_path: Path) -> None:
    made = sbkey.ensure(tmp_path / "keys")
    image = signed_grub(tmp_path / "cache", made)
    assert signed_grub(tmp_path / "cache", made) == image  # cached
    data = image.read_bytes()
    assert pe.signatures(data) == 1
    assert pe.section_data(data, ".sbat").startswith(b"sbat,1,")  # shim refuses GRUB without
    ok = run(["sbverify", "--cert", str(made.cert), str(image)])
    assert "Signature verification OK" in ok.stdout + ok.stderr
    stranger = sbkey.create(tmp_path / "stranger")
    bad = run(["sbverify", "--cert", str(stranger.cert), str(image)], check=False)
    assert bad.returncode != 0


def test_config_document_carries_the_secure_boot_files(tmp_path: Path) -> None:
    """A secure_boot host's config names the files with their SHA-256; the routes serve them."""
    data = tmp_path / "data"
    settings = ServerSettings(data, PROFILES, secret_key="k" * 32, base_url=SERVER)
    app = create_app(settings)
    client = app.test_client()
    store = Store.in_data_dir(data)
    try:
        host = store.upsert_host("52:54:00:5b:00:01", profile="vm-amd64-sb")
    finally:
        store.close()
    resp = client.get(
        f"/api/v1/hosts/{host.mac}/config", headers={"Authorization": f"Bearer {host.token}"}
    )
    assert resp.status_code == 200, resp.get_json()
    config = parse_config(resp.get_json())
    assert config.secure_boot is not None and set(config.secure_boot.sha256) == set(
        SECURE_BOOT_FILES
    )
    for name in SECURE_BOOT_FILES:
        with client.get(f"/boot/secureboot/{name}") as got:
            assert got.status_code == 200
            assert hashlib.sha256(got.data).hexdigest() == config.secure_boot.sha256[name]
    with client.get("/boot/secureboot/shimx64.efi") as shim:
        assert shim.data == files.find(files.SHIM).read_bytes()


def test_live_medium_chain(tmp_path: Path) -> None:
    """`provision iso` (signed): shim, Debian's signed GRUB, MokManager on the ESP; the small
    grub.cfg on the ESP and the ISO tree; --uefi grub builds the unsigned one."""
    data = make_data_dir(tmp_path / "data")
    out = tmp_path / "sb.iso"
    assert (
        iso_cli(data, "desktop-amd64", "--server", SERVER, "--uefi", "signed", "-o", str(out)) == 0
    )
    stub = read_rr(out, f"/{STUB_PATH}").decode()
    assert "search --no-floppy --set=root --file /boot/grub/provision-" in stub
    esp = tmp_path / "esp.img"
    esp.write_bytes(read_rr(out, "/boot/efi.img"))
    got = tmp_path / "got"
    got.mkdir()
    for name, source in (
        ("EFI/BOOT/BOOTX64.EFI", files.find(files.SHIM)),
        ("EFI/BOOT/grubx64.efi", files.find(files.GRUB_DISK)),
        ("EFI/BOOT/mmx64.efi", files.find(files.MOKMANAGER)),
    ):
        run(["mcopy", "-i", str(esp), f"::/{name}", str(got / "f")], extra_env=MTOOLS)
        assert (got / "f").read_bytes() == source.read_bytes(), name
        os.unlink(got / "f")
    run(["mcopy", "-i", str(esp), f"::/{STUB_PATH}", str(got / "cfg")], extra_env=MTOOLS)
    assert (got / "cfg").read_text() == stub
    plain = tmp_path / "plain.iso"
    assert (
        iso_cli(data, "desktop-amd64", "--server", SERVER, "--uefi", "grub", "-o", str(plain)) == 0
    )
    esp.write_bytes(read_rr(plain, "/boot/efi.img"))
    listing = run(["mdir", "-i", str(esp), "::/EFI/BOOT"], extra_env=MTOOLS).stdout
    assert "grubx64" not in listing and "BOOTX64  EFI" in listing


def test_signed_medium_refuses_an_unsigned_kernel(tmp_path: Path) -> None:
    data = make_data_dir(tmp_path / "data")
    kernel = data / "live" / "vmlinuz"
    run(["sbattach", "--remove", str(kernel)])  # Debian's kernel without its signature
    assert pe.signatures(kernel.read_bytes()) == 0
    code = iso_cli(data, "desktop-amd64", "--server", SERVER, "--uefi", "signed",
                   "-o", str(tmp_path / "x.iso"))  # fmt: skip
    assert code == 2 and not (tmp_path / "x.iso").exists()
