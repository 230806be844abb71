"""Power settings (validation, the public form without the password), the password at rest
(encrypted with the server's secret key), the magic packet, and what Wake-on-LAN refuses."""

from __future__ import annotations

from typing import Any

import pytest

from provision.errors import ConfigError, ProvisionError
from provision.fleet.power.control import run_action
from provision.fleet.power.secret import seal, unseal
from provision.fleet.power.settings import (
    BootTarget,
    PowerAction,
    PowerDriver,
    parse_power,
    settings_from_public,
)
from provision.fleet.power.wol import magic_packet

KEY = "k" * 32


def test_magic_packet() -> None:
    packet = magic_packet("52-54-00-E2-F1-01")
    assert len(packet) == 102
    assert packet[:6] == b"\xff" * 6
    assert packet[6:] == bytes.fromhex("525400e2f101") * 16


@pytest.mark.parametrize(
    ("doc", "public"),
    [
        pytest.param(
            {"driver": "redfish", "address": "https://bmc1.example.org:8443", "system": "1",
             "username": "admin", "password": "s3cret", "verify_tls": False, "boot": "http"},
            {"driver": "redfish", "address": "https://bmc1.example.org:8443", "system": "1",
             "username": "admin", "verify_tls": False, "boot": "http"},
            id="redfish"),
        pytest.param(
            {"driver": "ipmi", "address": "192.0.2.7", "username": "root", "password": "x"},
            {"driver": "ipmi", "address": "192.0.2.7", "username": "root", "port": 623},
            id="ipmi"),
        pytest.param(
            {"driver": "wol", "interface": "br0", "broadcast": "192.0.2.255"},
            {"driver": "wol", "interface": "br0", "broadcast": "192.0.2.255", "port": 9},
            id="wol"),
    ],
)  # fmt: skip
def test_settings_and_public_form(doc: dict[str, Any], public: dict[str, Any]) -> None:
    settings, password = parse_power(doc)
    assert settings.public() == public
    assert "password" not in settings.public() and "s3cret" not in repr(settings.public())
    assert password == doc.get("password")
    assert settings_from_public(settings.public()) == settings


def test_defaults() -> None:
    settings, password = parse_power({"driver": "redfish", "address": "http://127.0.0.1:8000/"})
    assert settings.address == "http://127.0.0.1:8000" and settings.boot is BootTarget.PXE
    assert settings.verify_tls and password is None and settings.driver is PowerDriver.REDFISH


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        pytest.param({"driver": "ilo"}, r"power.driver: 'ilo': expected one of wol, redfish",
                     id="driver"),
        pytest.param({"driver": "redfish", "address": "ftp://bmc"}, r"is not a BMC URL",
                     id="scheme"),
        pytest.param({"driver": "redfish", "address": "https://bmc/redfish/v1"},
                     r"no path", id="path"),
        pytest.param({"driver": "redfish", "address": "https://u:p@bmc"}, r"is not a BMC URL",
                     id="userinfo"),
        pytest.param({"driver": "redfish", "address": "https://bmc:99999"}, r"power.address",
                     id="port-in-url"),
        pytest.param({"driver": "ipmi", "address": "bmc one"}, r"host name or IP", id="host"),
        pytest.param({"driver": "ipmi", "address": "10.0.0.1", "port": 70000},
                     r"power.port: expected a port number", id="port"),
        pytest.param({"driver": "ipmi", "address": "10.0.0.1", "password": 5},
                     r"power.password: expected a string", id="password-type"),
        pytest.param({"driver": "ipmi", "address": "10.0.0.1", "password": "x" * 257},
                     r"at most 256", id="password-long"),
        pytest.param({"driver": "wol", "broadcast": "192.0.2.256"}, r"IPv4 broadcast",
                     id="broadcast"),
        pytest.param({"driver": "wol", "interface": "br0; rm -rf /"}, r"network interface",
                     id="interface"),
        pytest.param({"driver": "redfish", "address": "http://b", "boot": "cd"},
                     r"expected pxe or http", id="boot"),
        pytest.param({"driver": "redfish", "address": "http://b", "verify_tls": "no"},
                     r"verify_tls: expected true or false", id="verify"),
        pytest.param({"driver": "redfish", "address": "http://b", "system": "../../x y"},
                     r"is not a Redfish system id", id="system"),
        pytest.param({"driver": "wol", "secret": 1}, r"unknown keys \['secret'\]", id="unknown"),
        pytest.param([], r"power: expected an object", id="not-object"),
    ],
)  # fmt: skip
def test_bad_settings(doc: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        parse_power(doc)
    assert "\n" not in str(err.value)


def test_password_sealed_with_the_secret_key() -> None:
    token = seal(KEY, "s3cret")
    assert "s3cret" not in token
    assert unseal(KEY, token) == "s3cret"
    assert seal(KEY, "s3cret") != token  # a fresh IV each time
    with pytest.raises(ConfigError, match=r"cannot be decrypted .* set the password again") as err:
        unseal("another-secret-key-0123456789", token)
    assert token not in str(err.value)


def test_wake_on_lan_only_switches_on() -> None:
    settings, _ = parse_power({"driver": "wol"})
    for action in (PowerAction.OFF, PowerAction.CYCLE, PowerAction.STATUS):
        with pytest.raises(ProvisionError, match="Wake-on-LAN can only switch a machine on"):
            run_action(settings, "", "52:54:00:00:00:01", action)
