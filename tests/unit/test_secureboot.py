"""Secure Boot's pure parts: the PE reader, the signed GRUB's recipe, the key's openssl argv."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from provision.errors import ConfigError
from provision.secureboot import grub, pe
from provision.secureboot.key import SecureBootKey, default_subject, der_argv, req_argv

SBAT = b"sbat,1,SBAT Version,sbat,1,https://github.com/rhboot/shim/blob/main/SBAT.md\n"


def make_pe(
    *, sections: dict[str, bytes] | None = None, signatures: int = 0, magic: int = pe.PE32_PLUS
) -> bytes:
    """A small PE32+ image: DOS header, PE header, sections, a certificate table."""
    sections = sections if sections is not None else {".text": b"\x90" * 32, ".sbat": SBAT}
    dos = bytearray(64)
    dos[0:2] = b"MZ"
    struct.pack_into("<I", dos, 0x3C, 64)
    opt_size = 240 if magic == pe.PE32_PLUS else 224
    coff = struct.pack("<HHIIIHH", 0x8664, len(sections), 0, 0, 0, opt_size, 0x22)
    opt = bytearray(opt_size)
    struct.pack_into("<H", opt, 0, magic)
    ndirs_at, dirs_at = (108, 112) if magic == pe.PE32_PLUS else (92, 96)
    struct.pack_into("<I", opt, ndirs_at, 16)
    headers = 64 + 4 + 20 + opt_size + 40 * len(sections)
    body, table, at = b"", b"", (headers + 511) // 512 * 512
    for name, data in sections.items():
        table += struct.pack(
            "<8sIIIIIIHHI", name.encode(), len(data), at, len(data), at + len(body), 0, 0, 0, 0, 0
        )
        body += data
    image = bytes(dos) + b"PE\0\0" + coff
    certs = b""
    for _ in range(signatures):
        blob = b"\x30\x82" + b"\x00" * 10  # stands in for the PKCS#7 signature
        entry = struct.pack("<IHH", 8 + len(blob), 0x0200, 0x0002) + blob
        certs += entry + b"\0" * (-len(entry) % 8)
    start = at + len(body)
    if certs:
        struct.pack_into("<II", opt, dirs_at + 8 * pe.CERT_TABLE, start, len(certs))
    image += bytes(opt) + table
    image += b"\0" * (at - len(image))
    return image + body + certs


@pytest.mark.parametrize("count", [0, 1, 2])
def test_signatures_are_counted(count: int) -> None:
    assert pe.signatures(make_pe(signatures=count)) == count


@pytest.mark.parametrize("count", [0, 2])
def test_a_file_is_mapped_not_read(tmp_path: Path, count: int) -> None:
    path = tmp_path / "vmlinuz"
    path.write_bytes(make_pe(signatures=count))
    assert pe.file_signatures(path) == count
    path.write_bytes(b"")
    with pytest.raises(pe.PeError):
        pe.file_signatures(path)
    path.write_bytes(b"MZ" + bytes(100))
    with pytest.raises(pe.PeError):
        pe.file_signatures(path)


def test_pe32_too() -> None:
    assert pe.signatures(make_pe(signatures=1, magic=pe.PE32)) == 1


def test_section_data() -> None:
    image = make_pe()
    assert pe.section_data(image, ".sbat") == SBAT
    assert [s.name for s in pe.parse(image).sections] == [".text", ".sbat"]
    with pytest.raises(pe.PeError, match=r"no \.rodata section"):
        pe.section_data(image, ".rodata")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(b"", "no MZ header", id="empty"),
        pytest.param(b"MZ" + b"\0" * 62, "no PE signature", id="no-pe"),
        pytest.param(make_pe()[:100], "truncated|runs past", id="truncated"),
        pytest.param(make_pe(signatures=1)[:-4], "certificate table runs past", id="short-certs"),
        pytest.param(make_pe(magic=0x107), "unknown optional header magic", id="magic"),
    ],
)
def test_damaged_images_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(pe.PeError, match=message):
        pe.signatures(data)


def test_a_damaged_certificate_entry_is_refused() -> None:
    image = bytearray(make_pe(signatures=1))
    offset = pe.parse(bytes(image)).cert_offset
    struct.pack_into("<I", image, offset, 4)  # an entry shorter than its own header
    with pytest.raises(pe.PeError, match="damaged certificate table entry"):
        pe.signatures(bytes(image))


def test_sbat_from_the_distributions_signed_grub(tmp_path: Path) -> None:
    signed = tmp_path / "grubx64.efi.signed"
    signed.write_bytes(make_pe(sections={".sbat": SBAT + b"\0" * 100}))
    assert grub.sbat_text((tmp_path / "none.csv",), signed) == SBAT.decode()
    csv = tmp_path / "sbat.csv"
    csv.write_text("sbat,1,x\n")
    assert grub.sbat_text((csv,), signed) == "sbat,1,x\n"  # Gentoo's sbat.csv first
    signed.write_bytes(make_pe(sections={".sbat": b"junk"}))
    with pytest.raises(ConfigError, match="not SBAT data"):
        grub.sbat_text((tmp_path / "none.csv",), signed)


def test_signed_grub_recipe(tmp_path: Path) -> None:
    argv = grub.mkimage_argv(Path("/g"), Path("/o.efi"), Path("/e.cfg"), Path("/s.csv"))
    assert argv[:9] == ["grub-mkimage", "-O", "x86_64-efi", "-d", "/g", "-o", "/o.efi", "-p",
                        "/EFI/BOOT"]  # fmt: skip
    assert argv[argv.index("--sbat") + 1] == "/s.csv"
    for module in ("part_gpt", "ext2", "xfs", "btrfs", "linux", "search_fs_uuid", "normal"):
        assert module in argv[argv.index("/s.csv") + 1 :]
    key = SecureBootKey(tmp_path)
    assert grub.sbsign_argv(key, Path("/u"), Path("/s")) == [
        "sbsign", "--key", f"{tmp_path}/db.key", "--cert", f"{tmp_path}/db.crt",
        "--output", "/s", "/u",
    ]  # fmt: skip
    assert "configfile $prefix/grub.cfg" in grub.EARLY_CONFIG
    assert "menuentry" not in grub.EARLY_CONFIG  # runs before normal mode: no menus there


def test_esp_config() -> None:
    text = grub.esp_config("0a1b2c3d-0000-4000-8000-00000000abcd", "/boot/grub")
    assert "search --no-floppy --fs-uuid --set=root 0a1b2c3d-0000-4000-8000-00000000abcd" in text
    assert "set prefix=($root)/boot/grub\nconfigfile $prefix/grub.cfg\n" in text
    with pytest.raises(ConfigError, match="not a file-system UUID"):
        grub.esp_config("x; reboot", "/grub")


def test_key_argv_and_subject() -> None:
    argv = req_argv(Path("/k"), Path("/c"), "/CN=x/")
    assert argv[:4] == ["openssl", "req", "-new", "-x509"]
    assert argv[4:6] == ["-newkey", "rsa:2048"] and "-nodes" in argv and "-sha256" in argv
    assert argv[argv.index("-keyout") + 1] == "/k" and argv[argv.index("-out") + 1] == "/c"
    assert der_argv(Path("/c"), Path("/d")) == [
        "openssl", "x509", "-in", "/c", "-outform", "DER", "-out", "/d",
    ]  # fmt: skip
    assert default_subject("build.example.org") == (
        "/CN=provision Secure Boot signing key (build.example.org)/"
    )
    assert default_subject("a/b=c,d") == "/CN=provision Secure Boot signing key (abcd)/"
