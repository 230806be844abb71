"""`provision dhcp`: dnsmasq for network boot, proxyDHCP beside an office DHCP server or full
DHCP on an isolated lab network.  `--print` only prints the config (for admins who run their
own dnsmasq); otherwise it is written to DATA_DIR/dnsmasq-pxe.conf and dnsmasq runs in the
foreground (log in DATA_DIR/dnsmasq.log).  In proxy mode the HTTP boot responder runs beside
it (dnsmasq does not answer HTTP boot clients in proxy mode; see `provision httpboot`).
"""

from __future__ import annotations

import argparse
from typing import Any

from provision.commands import Context
from provision.commands.httpboot import start_responder
from provision.errors import ConfigError
from provision.pxe import dnsmasq


def register(sub: Any) -> None:
    p = sub.add_parser("dhcp", help="run (or print the config of) dnsmasq for network boot")
    p.add_argument("--mode", choices=[m.value for m in dnsmasq.Mode], required=True)
    p.add_argument("--interface", required=True, help="interface on the boot network")
    p.add_argument("--server-ip", required=True, help="this server's address on that network")
    p.add_argument("--network", required=True, help="the boot network, e.g. 10.0.0.0/24")
    p.add_argument("--base-url", default="", help="HTTP URL of the server (default http://IP:8080)")
    p.add_argument("--range", default="", help="full mode: FIRST,LAST addresses to hand out")
    p.add_argument("--lease-time", default="1h")
    p.add_argument("--router", default="", help="full mode: default gateway to hand out")
    p.add_argument(
        "--uefi-loader",
        default="ipxe.efi",
        choices=dnsmasq.UEFI_LOADERS,
        help="UEFI PXE clients' loader (shimx64.efi: Secure Boot, full mode; see docs/pxe.md)",
    )
    p.add_argument(
        "--bios-loader",
        default="undionly.kpxe",
        choices=dnsmasq.BIOS_LOADERS,
        help="BIOS PXE clients' loader (pxelinux.0: needs `provision tftp --populate --pxelinux`)",
    )
    p.add_argument(
        "--http-boot",
        default=dnsmasq.HttpBoot.IPXE.value,
        choices=[h.value for h in dnsmasq.HttpBoot],
        help="UEFI HTTP boot clients get: ipxe (ipxe.efi), iso (the Secure Boot live ISO), off",
    )
    p.add_argument("--print", action="store_true", help="print the config and exit")
    p.set_defaults(func=cmd_dhcp)


def config_from_args(args: argparse.Namespace) -> dnsmasq.DhcpConfig:
    first, _, last = args.range.partition(",")
    if args.range and not last:
        raise ConfigError("--range", f"{args.range!r} is not FIRST,LAST")
    return dnsmasq.DhcpConfig(
        mode=dnsmasq.Mode(args.mode),
        interface=args.interface,
        server_ip=args.server_ip,
        base_url=args.base_url or f"http://{args.server_ip}:8080",
        network=args.network,
        range_start=first,
        range_end=last,
        lease_time=args.lease_time,
        router=args.router,
        uefi_loader=args.uefi_loader,
        bios_loader=args.bios_loader,
        http_boot=dnsmasq.HttpBoot(args.http_boot),
    )


def cmd_dhcp(ctx: Context, args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    if args.print:
        print(dnsmasq.render_config(cfg), end="")
        return 0
    path = dnsmasq.write_config(ctx.data_dir, cfg)
    log_path = ctx.data_dir / "dnsmasq.log"
    print(f"provision: dnsmasq ({cfg.mode.value} mode) with {path}; log in {log_path}", flush=True)
    responder_settings = dnsmasq.responder_settings(cfg)
    responder = start_responder(responder_settings) if responder_settings else None
    try:
        dnsmasq.run_dnsmasq(path, log_path)
    finally:
        if responder is not None:
            responder.stop()
    return 0
