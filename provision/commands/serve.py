"""`provision serve`: the whole server on an embedded default.

Always: the HTTP server (granian, see provision.server.http) with every blueprint mounted —
the web UI, the admin and installer APIs, the binhost snapshots and boot files — SQLite in the
data dir, and the image-order worker.  Optional parts start when their module exists and they
are configured:

- the builder loop (provision.builder.builder): on by default, `--no-build` to leave it off;
  with `--broker URL` (or `broker` in build.toml) passes run on the build farm's workers
  (provision.farm: Celery + Redis), one pass per profile at a time, all profiles in parallel;
- TFTP (provision.pxe.tftp): with `--tftp ADDR:PORT`, serving DATA_DIR/tftp;
- dnsmasq (provision.pxe.dnsmasq): with `--dnsmasq`, using DATA_DIR/dnsmasq-pxe.conf (and, in
  proxy mode, the HTTP boot responder provision.pxe.httpboot with DATA_DIR/httpboot.json);
- the DNS retry loop (provision.dns): when DATA_DIR/dns.toml exists, queued registrations are
  retried every minute.
Each part logs one line saying whether it runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import logging
import os
import socket
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flask import Flask

from provision.commands import Context
from provision.errors import ConfigError, ProvisionError
from provision.mirror import load_mirrors
from provision.server import http, services
from provision.server.app import create_app
from provision.server.datadir import UMASK, secure_data_dir
from provision.server.images import ImageMaker, OrderWorker, images_dir
from provision.server.orders import load_config
from provision.server.settings import ServerSettings, load_settings

if TYPE_CHECKING:
    from provision.builder.executor import Executor
    from provision.builder.settings import BuildSettings

log = logging.getLogger("provision.serve")
Stop = Callable[[], None]


def register(sub: Any) -> None:
    p = sub.add_parser("serve", help="run the provisioning server")
    p.add_argument(
        "--listen", default="", help="ADDR:PORT to listen on (default 127.0.0.1:8080; port 0: any)"
    )
    p.add_argument("--base-url", default="", help="URL clients use to reach this server")
    p.add_argument("--threads", type=int, default=16, help="HTTP worker threads (default 16)")
    p.add_argument("--no-build", action="store_true", help="do not run the builder loop")
    p.add_argument(
        "--broker",
        default="",
        metavar="URL",
        help="run passes on the build farm through this Redis broker (redis://HOST:6379/0)",
    )
    p.add_argument("--tftp", default="", metavar="ADDR:PORT", help="serve DATA_DIR/tftp by TFTP")
    p.add_argument(
        "--dnsmasq", action="store_true", help="run dnsmasq with DATA_DIR/dnsmasq-pxe.conf"
    )
    p.set_defaults(func=cmd_serve)


def split_listen(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ConfigError("--listen", f"{listen!r} is not ADDR:PORT (e.g. 0.0.0.0:8080)")
    return host.strip("[]") or "0.0.0.0", int(port)


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(http.BACKLOG)  # connections wait in the backlog until the server runs
    except OSError as exc:
        sock.close()
        raise ProvisionError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    return sock


def _module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def start_builder(settings: ServerSettings, app: Flask, broker: str = "") -> Stop | None:
    if not _module("provision.builder.builder"):
        log.warning("builder: not available (provision.builder.builder missing)")
        return None
    from provision.builder.builder import Builder
    from provision.builder.settings import check_broker
    from provision.builder.settings import load_settings as load_build_settings
    from provision.profiles import ProfileSet
    from provision.snapshots.layout import DataLayout

    build_settings = load_build_settings(DataLayout(settings.data_dir).settings_file)
    broker = check_broker(broker) if broker else build_settings.broker
    executor, stop_farm = (
        start_farm(settings, app, build_settings, broker) if broker else (None, None)
    )
    builder = Builder(
        settings.data_dir, ProfileSet(settings.profiles_dir), build_settings, executor
    )

    def run() -> None:
        try:
            builder.forever([], parallel=executor is not None)
        except ProvisionError as exc:
            log.error("builder: stopped: %s", exc)

    threading.Thread(target=run, name="builder", daemon=True).start()
    where = "on the build farm" if broker else "in-process"
    print(f"provision: builder loop running {where} (--no-build to disable)", flush=True)
    return stop_farm  # a pass in flight is not interrupted: the state machine recovers on restart


def start_farm(
    settings: ServerSettings, app: Flask, build_settings: BuildSettings, broker: str
) -> tuple[Executor, Stop]:
    """The farm's dispatcher (publishing, leases, reconciling) and the builder's executor."""
    from provision.farm.dispatch import Farm, FarmExecutor
    from provision.farm.store import FarmStore
    from provision.server.farm_services import attach_farm

    build_settings = dataclasses.replace(build_settings, broker=broker)
    store = FarmStore.in_data_dir(settings.data_dir)
    farm = Farm(settings.data_dir, broker, build_settings.farm, store)
    attach_farm(app, farm, build_settings)
    farm.start()
    print(f"provision: build farm on {broker.split('@')[-1]}", flush=True)

    def stop() -> None:
        farm.stop()

    return FarmExecutor(farm, build_settings), stop


def start_tftp(settings: ServerSettings, listen: str, app: Flask | None = None) -> Stop | None:
    if not listen:
        log.info("tftp: not started (pass --tftp ADDR:PORT)")
        return None
    if not _module("provision.pxe.tftp"):
        raise ConfigError(
            "--tftp", "the TFTP server (provision.pxe.tftp) is not available in this build"
        )
    from provision.pxe.tftp import TftpServer
    from provision.server import tftpboot

    host, port = split_listen(listen)
    server = TftpServer(
        settings.data_dir / "tftp",
        dynamic=tftpboot.dynamic(settings),  # GRUB's per-host configs, the live files
        on_fetch=tftpboot.on_fetch(services.sightings(app)) if app is not None else None,
    )
    addr = server.start(host, port)
    print(
        f"provision: tftp on {addr[0]}:{addr[1]} serving {settings.data_dir / 'tftp'}", flush=True
    )
    return server.stop


def start_dnsmasq(settings: ServerSettings, enabled: bool) -> Stop | None:
    if not enabled:
        log.info("dnsmasq: not started (pass --dnsmasq)")
        return None
    if not _module("provision.pxe.dnsmasq"):
        raise ConfigError("--dnsmasq", "provision.pxe.dnsmasq is not available in this build")
    from provision.pxe.dnsmasq import CONFIG_NAME, spawn_dnsmasq

    config = settings.data_dir / CONFIG_NAME
    if not config.is_file():
        raise ConfigError(str(config), "no dnsmasq config (write it with the pxe commands first)")
    from provision.pxe.dnsmasq import load_responder_settings

    responder_settings = load_responder_settings(settings.data_dir)  # a bad file fails here
    daemon = spawn_dnsmasq(config, settings.data_dir / "dnsmasq.log")  # checks the config first
    print(f"provision: dnsmasq running with {config}", flush=True)
    responder = None
    if responder_settings is not None:  # proxy mode: HTTP boot clients get our answer
        from provision.commands.httpboot import start_responder

        try:
            responder = start_responder(responder_settings)
        except ProvisionError:
            daemon.stop()
            raise

    def stop() -> None:
        if responder is not None:
            responder.stop()
        daemon.stop()  # dnsmasq ends with the server

    return stop


def start_dns_retry(settings: ServerSettings, interval: float = 60.0) -> Stop | None:
    """Retry queued DNS updates every `interval` seconds, only when DNS is configured."""
    from provision.dns.hooks import retry_loop
    from provision.dns.settings import default_path, load_dns_settings

    path = default_path(settings.data_dir)
    if not path.is_file():
        log.info("dns: registration off (no %s)", path)
        return None
    load_dns_settings(path)  # a bad dns.toml fails here, not in the thread
    stop = threading.Event()
    thread = threading.Thread(
        target=retry_loop, args=(settings.data_dir, stop, interval), name="dns-retry", daemon=True
    )
    thread.start()
    print(f"provision: DNS registration on ({path}), retrying queued updates", flush=True)

    def stop_it() -> None:
        stop.set()
        thread.join(timeout=30)

    return stop_it


def cmd_serve(ctx: Context, args: argparse.Namespace) -> int:
    if ctx.verbose < 2:
        logging.getLogger("tftpy").setLevel(logging.CRITICAL)  # refusals are in our own fetch log
    os.umask(UMASK)  # everything the server creates: files 0600, directories 0700
    secure_data_dir(ctx.data_dir)
    settings = load_settings(
        ctx.data_dir, ctx.profiles_dir, listen=args.listen, base_url=args.base_url
    )
    host, port = split_listen(settings.listen)
    order_config = load_config(settings.data_dir)  # a bad orders.toml fails here, not later
    load_mirrors(settings.data_dir)  # and a bad mirrors.toml
    sock = bind(host, port)
    port = sock.getsockname()[1]
    if not args.base_url and settings.base_url == ServerSettings.base_url:
        # the default base URL follows the address actually bound (port 0: an ephemeral port)
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        shown = f"[{shown}]" if ":" in shown else shown
        settings = dataclasses.replace(settings, base_url=f"http://{shown}:{port}")
    app = create_app(settings)
    worker = OrderWorker(
        services.orders(app),
        ImageMaker(settings.data_dir, settings.profiles_dir, settings.base_url),
        images_dir(settings.data_dir),
        order_config,
        settings.base_url,
    )
    services.attach_worker(app, worker)
    worker.start()
    stops: list[Stop] = [worker.stop]
    if not settings.admin_password_hash:
        print("provision: no admin password set: run `provision admin-password`", flush=True)
    try:
        for stop in (
            start_tftp(settings, args.tftp, app),
            start_dnsmasq(settings, args.dnsmasq),
            start_dns_retry(settings),
            None if args.no_build else start_builder(settings, app, args.broker),
        ):
            if stop is not None:
                stops.append(stop)
        if args.no_build:
            log.info("builder: not started (--no-build)")
        print(
            f"provision: serving on http://{host}:{port}/ (clients use {settings.base_url}; "
            f"{http.available()}, {args.threads} threads)",
            flush=True,
        )
        try:
            # returns on SIGTERM / Ctrl-C; body caps: Flask's MAX_CONTENT_LENGTH (413 before a
            # view reads), and waitress' own when it is the server
            http.serve(
                app,
                sock,
                args.threads,
                max_body=settings.max_body_bytes,
                proxied=bool(settings.trusted_proxies),
            )
        except KeyboardInterrupt:
            pass
        finally:
            print("provision: stopping", flush=True)
    finally:
        for stop in reversed(stops):
            stop()
        services.close_services(app)
        sock.close()
    return 0
