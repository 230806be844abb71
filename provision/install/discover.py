"""The installer's side of discovery: report this machine's hardware, wait for a profile, and
refuse a profile whose binaries this CPU cannot run (before any disk is touched).

    report_inventory(server, host, token, inventory)   POST /api/v1/hosts/<mac>/inventory
    wait_for_config(url, token, ...)                   GET .../config until it has a profile
    check_cpu(profile, cpu, force=...)                 InstallError when the CPU does not fit
"""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any, TextIO

from provision.errors import ConfigError, InstallError
from provision.fleet.fit import fit, requirement_of
from provision.fleet.inventory import CpuFacts, Inventory
from provision.profiles.model import Profile

PREFIX = "provision-install:"
WAITING = 409  # the server's answer for a host that has no profile yet


def _request(url: str, token: str, body: bytes | None = None, timeout: float = 30) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if body is not None:
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=body, headers=headers, method="POST" if body else "GET")
    return urllib.request.urlopen(req, timeout=timeout)


def _detail(exc: urllib.error.HTTPError) -> str:
    try:
        data = json.loads(exc.read(4096) or b"{}")
    except (ValueError, OSError):
        return ""
    finally:
        exc.close()
    return str(data.get("error", "")) if isinstance(data, dict) else ""


def report_inventory(
    server: str, host: str, token: str, inventory: Inventory, out: TextIO | None = None
) -> dict[str, Any] | None:
    """Send the report; the server's answer (None when it could not be sent: the install goes
    on without it, the CPU check does not need the server)."""
    out = out or sys.stdout
    url = f"{server.rstrip('/')}/api/v1/hosts/{host}/inventory"
    body = json.dumps(inventory.to_doc()).encode()
    level = inventory.cpu.level
    print(
        f"{PREFIX} hardware: {inventory.cpu.model or 'unknown CPU'} "
        f"({level.label if level else inventory.cpu.arch}), {inventory.memory >> 20} MiB, "
        f"{len(inventory.disks)} disk(s), {inventory.dmi.chassis.value} "
        f"{inventory.dmi.vendor} {inventory.dmi.product}".rstrip(),
        file=out,
        flush=True,
    )
    try:
        with _request(url, token, body) as resp:
            answer = json.loads(resp.read(1 << 20))
    except urllib.error.HTTPError as exc:
        print(f"{PREFIX} the server refused the hardware report: {exc.code} {_detail(exc)}",
              file=out, flush=True)  # fmt: skip
        return None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        print(f"{PREFIX} could not report the hardware: {exc}", file=out, flush=True)
        return None
    if not isinstance(answer, dict):
        return None
    if answer.get("rule"):
        print(
            f"{PREFIX} rule {answer['rule']} assigned profile {answer.get('profile')}"
            + (f" as {answer['hostname']}" if answer.get("hostname") else ""),
            file=out,
            flush=True,
        )
    return answer


def wait_for_config(
    url: str,
    token: str,
    *,
    poll: float = 10.0,
    timeout: float = 0.0,
    out: TextIO | None = None,
    explain: list[str] | None = None,
    picker: str = "",
    sleep: Callable[[float], None] = time.sleep,
) -> Any:
    """GET the config document; while the server says the host has no profile (409), say
    why and where to choose one, and ask again every `poll` seconds (timeout 0: forever)."""
    out = out or sys.stdout
    deadline = time.monotonic() + timeout if timeout else None
    told = False
    while True:
        try:
            with _request(url, token) as resp:
                try:
                    return json.loads(resp.read())
                except ValueError as exc:
                    raise InstallError(f"{url}: not JSON ({exc})") from exc
        except urllib.error.HTTPError as exc:
            detail = _detail(exc)
            if exc.code != WAITING:
                raise InstallError(
                    f"{url}: the server answered {exc.code} {exc.reason}"
                    + (f": {detail}" if detail else "")
                ) from exc
            if not told:
                print(f"{PREFIX} waiting for a profile: {detail}", file=out, flush=True)
                for line in explain or ():
                    print(f"{PREFIX}   {line}", file=out, flush=True)
                if picker:
                    print(f"{PREFIX} choose one at {picker}", file=out, flush=True)
                told = True
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise InstallError(f"{url}: server unreachable ({reason})") from exc
        if deadline is not None and time.monotonic() > deadline:
            raise InstallError(f"no profile for this machine after {timeout:.0f} s")
        sleep(poll)


def cpu_refusal(profile: Profile, cpu: CpuFacts) -> str:
    """Why this CPU cannot run the profile's binaries ("" when it can) (pure)."""
    try:
        req = requirement_of(profile)
    except ConfigError as exc:
        return f"profile {profile.name}'s CPU requirement cannot be known ({exc})"
    result = fit(req, cpu.arch, cpu.flags)
    if result.ok:
        return ""
    return f"this machine's CPU ({cpu.model or 'unknown'}) cannot run profile {profile.name}: " + (
        result.reason
    )


def check_cpu(profile: Profile, cpu: CpuFacts, *, force: bool, out: TextIO | None = None) -> None:
    """InstallError when the CPU cannot run the profile and nobody forced it (nothing has been
    written anywhere yet); with force, a warning."""
    out = out or sys.stdout
    why = cpu_refusal(profile, cpu)
    if not why:
        return
    if force:
        print(f"{PREFIX} WARNING: {why}; installing anyway (forced by the admin)",
              file=out, flush=True)  # fmt: skip
        return
    raise InstallError(
        f"{why}. Nothing was written to any disk. Its binaries would stop with "
        "'illegal instruction'; choose a profile this CPU can run, or (admin) force it with "
        "`provision install --force` or on the server"
    )
