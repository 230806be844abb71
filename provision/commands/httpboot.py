"""`provision httpboot`: answer UEFI HTTP boot clients beside a proxy-mode DHCP setup.

dnsmasq in proxy mode never answers HTTP boot clients (vendor class HTTPClient); this runs the
small responder that does (provision.pxe.httpboot), in the foreground.  `provision dhcp --mode
proxy` and `provision serve --dnsmasq` start it themselves; run this one when your own dnsmasq
(or another DHCP server) does the rest.  Settings: the options, else DATA_DIR/httpboot.json
(written by `provision dhcp --mode proxy`).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from provision.commands import Context
from provision.errors import ConfigError
from provision.pxe.dnsmasq import ResponderSettings, load_responder_settings
from provision.pxe.httpboot import Responder


def register(sub: Any) -> None:
    p = sub.add_parser("httpboot", help="answer UEFI HTTP boot clients (proxy DHCP mode)")
    p.add_argument("--interface", default="", help="interface on the boot network")
    p.add_argument("--server-ip", default="", help="this server's address on that network")
    p.add_argument(
        "--url", default="", help="the boot URL (e.g. http://10.0.0.5:8080/boot/http/ipxe.efi)"
    )
    p.set_defaults(func=cmd_httpboot)


def settings_from(ctx: Context, args: argparse.Namespace) -> ResponderSettings:
    given = (args.interface, args.server_ip, args.url)
    if all(given):
        return ResponderSettings(*given)
    if any(given):
        raise ConfigError("httpboot", "give all of --interface, --server-ip and --url, or none")
    saved = load_responder_settings(ctx.data_dir)
    if saved is None:
        raise ConfigError(
            str(ctx.data_dir / "httpboot.json"),
            "no HTTP boot responder settings (write them with `provision dhcp --mode proxy`, "
            "or pass --interface, --server-ip and --url)",
        )
    return saved


def start_responder(settings: ResponderSettings) -> Responder:
    responder = Responder(settings)
    responder.start()
    print(
        f"provision: answering HTTP boot clients on {settings.interface} with {settings.url}",
        flush=True,
    )
    return responder


def cmd_httpboot(ctx: Context, args: argparse.Namespace) -> int:
    responder = start_responder(settings_from(ctx, args))
    try:
        while True:
            time.sleep(3600)
    finally:
        responder.stop()
