"""IPMI power control through the `pyghmi` client library (1.6).

Two things of pyghmi's are worked around here, both found against virtualbmc:

- pyghmi proposes cipher suite 17 (SHA-256).  A BMC that speaks only suite 3 (SHA-1), such as
  pyghmi's own BMC emulator behind virtualbmc, answers the proposal with SHA-1 and no error
  code, and pyghmi then fails in RAKP2.  `_sha1_fallback()` (installed the first time an IPMI
  session opens) makes the client notice that answer and ask again with SHA-1, which is what
  it does anyway when a BMC refuses SHA-256 with an error.
- credentials are passed as bytes (see IpmiPower._command).
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from provision.errors import ProvisionError
from provision.fleet.power.settings import BootTarget, PowerSettings

WAIT = 60  # seconds pyghmi waits for a power state change
_PATCHED = threading.Lock()
_installed = False
_AUTH_ALGORITHM = 16  # offset of the authentication algorithm in an RMCP+ open-session answer
_HMAC_SHA1 = 1


def _sha1_fallback() -> None:
    global _installed
    with _PATCHED:
        if _installed:
            return
        from pyghmi.ipmi.private import session

        original = session.Session._got_rmcp_response

        def got_rmcp_response(self: Any, data: Any) -> Any:
            if (
                self.attemptedhash == 256
                and len(data) > _AUTH_ALGORITHM
                and data[0] == self.rmcptag
                and data[1] == 0
                and data[_AUTH_ALGORITHM] == _HMAC_SHA1
            ):
                self.attemptedhash = 1  # the BMC chose SHA-1: ask for it
                self._open_rmcpplus_request()
                return None
            return original(self, data)

        session.Session._got_rmcp_response = got_rmcp_response
        _installed = True


class IpmiPower:
    def __init__(self, settings: PowerSettings, password: str) -> None:
        self.settings = settings
        self._password = password
        self._cmd: Any = None

    def _command(self) -> Any:
        if self._cmd is None:
            _sha1_fallback()
            from pyghmi import exceptions
            from pyghmi.ipmi import command

            s = self.settings
            try:
                # bytes, not str: pyghmi files a session being set up under the credentials as
                # given and removes it under their bytes; with str the stale entry stays and
                # the next session with the same credentials is a logged-out one
                self._cmd = command.Command(
                    bmc=s.address,
                    userid=s.username.encode(),
                    password=self._password.encode(),
                    port=s.effective_port,
                    keepalive=False,
                )
            except (exceptions.PyghmiException, OSError) as exc:
                raise _error(s, exc) from exc
        return self._cmd

    def _call(self, what: str, *args: Any, **kwargs: Any) -> Any:
        from pyghmi import exceptions

        try:
            return getattr(self._command(), what)(*args, **kwargs)
        except (exceptions.PyghmiException, OSError) as exc:
            raise _error(self.settings, exc) from exc

    def status(self) -> str:
        return str(self._call("get_power").get("powerstate", "unknown"))

    def on(self) -> None:
        self._call("set_power", "on", wait=WAIT)

    def off(self) -> None:
        self._call("set_power", "off", wait=WAIT)

    def cycle(self) -> None:
        if self.status() != "on":
            self.on()
        else:
            self._call("set_power", "reset")

    def boot_once(self, target: BootTarget) -> None:
        # IPMI has no HTTP boot device: "network" is PXE (UEFI PXE with uefiboot)
        self._call("set_bootdev", "network", persist=False, uefiboot=target is BootTarget.HTTP)

    def close(self) -> None:
        if self._cmd is not None:
            with contextlib.suppress(Exception):  # logging out of a dead session is no error
                self._cmd.ipmi_session.logout()
            self._cmd = None


def _error(settings: PowerSettings, exc: Exception) -> ProvisionError:
    text = " ".join(str(exc).split())[:300]
    return ProvisionError(f"IPMI {settings.address}:{settings.effective_port}: {text}")
