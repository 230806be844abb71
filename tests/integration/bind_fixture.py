"""A real BIND 9 (`named -g`) on 127.0.0.1 with an ephemeral port, a TSIG key and test zones.

The test zones: example.test (with `_provision._tcp` SRV/TXT records), 2.0.192.in-addr.arpa and
8.b.d.0.1.0.0.2.ip6.arpa, all updatable with the generated key.  A second key, `readonly`,
is known to the server but not allowed to update.
"""

from __future__ import annotations

import base64
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

from provision.dns.settings import DnsSettings

NAMED = "/usr/sbin/named"
KEY = "provision-test"
ZONES = ("example.test", "2.0.192.in-addr.arpa", "8.b.d.0.1.0.0.2.ip6.arpa")
SOA = """\
@ IN SOA ns.example.test. hostmaster.example.test. 1 3600 600 86400 60
@ IN NS  ns.example.test.
"""
EXAMPLE_TEST = """\
ns               IN A     127.0.0.1
boot-a           IN A     192.0.2.10
boot-b           IN A     192.0.2.11
boot-c           IN A     192.0.2.12
backup           IN A     192.0.2.13
_provision._tcp  IN SRV   10 60 8080 boot-a
_provision._tcp  IN SRV   10 20 8081 boot-b
_provision._tcp  IN SRV   10 20 8082 boot-c
_provision._tcp  IN SRV   20 0  8090 backup
_provision._tcp  IN TXT   "profile=desktop-amd64" "note=lab"
_provision._tcp.off IN SRV 0 0 0 .
empty            IN TXT   "a name without SRV below it"
printer          IN A     192.0.2.99
"""


def free_port() -> int:
    """A port free for both TCP and UDP on 127.0.0.1 (named listens on both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = int(tcp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port on 127.0.0.1")


@dataclass
class Bind:
    workdir: Path
    port: int = field(default_factory=free_port)
    secret: str = field(default_factory=lambda: base64.b64encode(os.urandom(32)).decode())
    proc: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.workdir / "named.log"

    def settings(self, **overrides: object) -> DnsSettings:
        values: dict[str, object] = {
            "server": "127.0.0.1",
            "port": self.port,
            "zone": "example.test",
            "reverse_zones": ZONES[1:],
            "key_name": KEY,
            "key_secret": self.secret,
            "ttl": 60,
            "timeout": 3.0,
        }
        values.update(overrides)
        return DnsSettings(**values)  # type: ignore[arg-type]

    def toml(self) -> str:
        s = self.settings()
        zones = ", ".join(f'"{z}"' for z in s.reverse_zones)
        return (
            f'server = "{s.server}"\nport = {s.port}\nzone = "{s.zone}"\n'
            f"reverse_zones = [{zones}]\n"
            f'key_name = "{s.key_name}"\nkey_secret = "{s.key_secret}"\nttl = {s.ttl}\n'
            f"timeout = {s.timeout}\n"
        )

    def write_config(self) -> None:
        d = self.workdir
        other = base64.b64encode(os.urandom(32)).decode()
        zones = "".join(
            f'zone "{z}" {{ type primary; file "{d}/{z}.db"; allow-update {{ key "{KEY}"; }}; }};\n'
            for z in ZONES
        )
        (d / "named.conf").write_text(
            f"""options {{
  directory "{d}";
  pid-file none;
  listen-on port {self.port} {{ 127.0.0.1; }};
  listen-on-v6 {{ none; }};
  recursion no;
  dnssec-validation no;
  notify no;
  session-keyfile none;
  managed-keys-directory "{d}";
}};
controls {{ }};
key "{KEY}" {{ algorithm hmac-sha256; secret "{self.secret}"; }};
key "readonly" {{ algorithm hmac-sha256; secret "{other}"; }};
{zones}"""
        )
        (d / "readonly.secret").write_text(other)
        for zone in ZONES:
            body = EXAMPLE_TEST if zone == "example.test" else ""
            if zone.startswith("2.0.192"):
                body = "99 IN PTR printer.example.test.\n"
            (d / f"{zone}.db").write_text(f"$TTL 60\n$ORIGIN {zone}.\n{SOA}{body}")

    def start(self, timeout: float = 30) -> None:
        """Start named in the foreground; return once it answers a SOA query."""
        assert self.proc is None
        if not (self.workdir / "named.conf").exists():
            self.write_config()
        argv = [NAMED, "-g", "-n", "1", "-c", str(self.workdir / "named.conf"), "-p"]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([*argv, str(self.port)], stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        query = dns.message.make_query("example.test", dns.rdatatype.SOA)
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"named exited {self.proc.returncode}:\n{self.log_tail()}")
            try:
                answer = dns.query.udp(query, "127.0.0.1", port=self.port, timeout=0.2)
            except (OSError, dns.exception.Timeout):
                continue
            if answer.rcode() == dns.rcode.NOERROR and answer.answer:
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"named did not answer within {timeout} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def start_bind(workdir: Path) -> Bind:
    if shutil.which(NAMED) is None:
        raise RuntimeError(f"{NAMED} is missing: install Debian bind9 (deps/apt/dns.txt)")
    bind = Bind(workdir)
    bind.start()
    return bind
