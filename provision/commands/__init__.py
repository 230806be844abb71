"""Subcommands.  Each module defines register(subparsers) and sets func(ctx, args) -> int.

`COMMANDS` names every command, its module and its one-line help, so that the CLI can list them
(`provision --help`) and parse one command's arguments while importing only that command's
module: start-up stays near the interpreter's own.  A module missing from the table still
works (the CLI imports it to learn its name); tests/unit/test_cli_lazy.py keeps the table
true to what each module registers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Context:
    """What every command gets: where the server keeps its state and where profiles live."""

    data_dir: Path
    profiles_dir: Path
    verbose: int = 0
    # runs another `provision` command line in this process (the demo chains commands)
    invoke: Callable[[Sequence[str]], int] | None = None


@dataclass(frozen=True)
class Command:
    module: str  # provision.commands.<module>
    help: str  # exactly the help its register() gives add_parser


COMMANDS: dict[str, Command] = {
    "admin-password": Command("admin", "set the admin password of the web UI"),
    "build": Command("build", "build, sign and publish the profiles' binhosts"),
    "demo": Command("demo", "run the main job on the bundled demo profiles"),
    "dhcp": Command("dhcp", "run (or print the config of) dnsmasq for network boot"),
    "dns": Command("dns", "DNS: server discovery (SRV) and host registration (RFC 2136)"),
    "doctor": Command("doctor", "check the programs, files and data dir each feature needs"),
    "etc-merge": Command("etcmerge", "settle ._cfg config file updates by the merge policy"),
    "httpboot": Command("httpboot", "answer UEFI HTTP boot clients (proxy DHCP mode)"),
    "install": Command("install", "install a profile onto a disk (the installer)"),
    "inventory": Command("inventory", "print this machine's hardware report (JSON)"),
    "iso": Command("iso", "write a bootable install image (CD/DVD and USB, BIOS and UEFI)"),
    "key": Command("key", "the package-signing key (show, create, import, export)"),
    "live": Command("live", "build the live environment that runs the installer"),
    "mirror": Command("mirror", "mirror a server's signed snapshots (verified) and serve them"),
    "profiles": Command("profiles", "list, show and check profiles"),
    "rollback": Command("rollback", "make an older published snapshot current"),
    "rules": Command("rules", "discovery rules: check them, show them, explain a host"),
    "secureboot-key": Command(
        "secureboot_key", "the Secure Boot signing key (show, create, import, export)"
    ),
    "serve": Command("serve", "run the provisioning server"),
    "status": Command("status", "builder state and published snapshot per profile"),
    "tftp": Command("tftp", "run the read-only TFTP server for network boot"),
    "verify": Command("verify", "compare a profile's binhost with another builder's"),
    "worker": Command("worker", "build passes for a provision server (build farm)"),
    "worker-token": Command("worker_token", "issue, revoke and list build-farm worker tokens"),
}
