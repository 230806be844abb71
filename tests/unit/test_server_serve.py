"""`provision serve`'s optional parts: each starts only when asked and configured."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from provision.commands.serve import bind, start_dnsmasq, start_tftp
from provision.errors import ConfigError, ProvisionError
from provision.server.settings import ServerSettings


def settings(tmp_path: Path) -> ServerSettings:
    return ServerSettings(tmp_path, tmp_path, secret_key="s" * 32)


def test_tftp_off_unless_asked(tmp_path: Path) -> None:
    assert start_tftp(settings(tmp_path), "") is None


def test_tftp_serves_the_tree(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "tftp").mkdir()
    (tmp_path / "tftp" / "boot.ipxe").write_text("#!ipxe\n")
    stop = start_tftp(settings(tmp_path), "127.0.0.1:0")
    assert stop is not None
    try:
        out = capsys.readouterr().out
        assert "provision: tftp on 127.0.0.1:" in out
        port = int(out.split("127.0.0.1:")[1].split()[0])
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:  # a TFTP read request
            s.settimeout(10)
            s.sendto(b"\x00\x01boot.ipxe\x00octet\x00", ("127.0.0.1", port))
            data, _ = s.recvfrom(1024)
        assert data[:4] == b"\x00\x03\x00\x01" and data[4:] == b"#!ipxe\n"
    finally:
        stop()


def test_tftp_without_tree_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="TFTP root is not a directory"):
        start_tftp(settings(tmp_path), "127.0.0.1:0")


def test_dnsmasq_needs_config(tmp_path: Path) -> None:
    assert start_dnsmasq(settings(tmp_path), False) is None
    with pytest.raises(ConfigError, match="no dnsmasq config"):
        start_dnsmasq(settings(tmp_path), True)


def test_bind_reports_busy_port() -> None:
    first = bind("127.0.0.1", 0)
    try:
        port = first.getsockname()[1]
        first.listen(1)
        with pytest.raises(ProvisionError, match=f"cannot listen on 127.0.0.1:{port}"):
            bind("127.0.0.1", port).close()
    finally:
        first.close()
