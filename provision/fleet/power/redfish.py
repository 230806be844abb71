"""Redfish power control through the `sushy` client library."""

from __future__ import annotations

import time
from typing import Any

from provision.errors import ProvisionError
from provision.fleet.power.settings import BootTarget, PowerSettings

TIMEOUT = 30  # seconds for one HTTP request to the BMC
WAIT = 60  # seconds to wait for a power state change


class RedfishPower:
    """One BMC's system: status, on, off, cycle, and a one-time boot override."""

    def __init__(self, settings: PowerSettings, password: str) -> None:
        self.settings = settings
        self._password = password
        self._system: Any = None

    def _get(self) -> Any:
        if self._system is not None:
            return self._system
        import sushy

        s = self.settings
        try:
            root = sushy.Sushy(
                s.address,
                username=s.username,
                password=self._password,
                verify=s.verify_tls,
                read_timeout=TIMEOUT,
                connect_timeout=10,
                server_side_retries=2,
                server_side_retries_delay=1,
            )
            identity = s.system or None
            if identity and not identity.startswith("/"):
                identity = f"/redfish/v1/Systems/{identity}"
            self._system = root.get_system(identity)
        except sushy.exceptions.SushyError as exc:
            raise _error(s, exc) from exc
        return self._system

    def _call(self, what: str, *args: Any, **kwargs: Any) -> Any:
        import sushy

        system = self._get()
        try:
            return getattr(system, what)(*args, **kwargs)
        except sushy.exceptions.SushyError as exc:
            raise _error(self.settings, exc) from exc

    def status(self) -> str:
        self._call("refresh")
        state = self._get().power_state
        return str(getattr(state, "value", state) or "unknown").lower()

    def on(self) -> None:
        import sushy

        self._call("reset_system", sushy.RESET_ON)

    def off(self) -> None:
        import sushy

        self._call("reset_system", sushy.RESET_FORCE_OFF)

    def cycle(self) -> None:
        """Off and on again; a machine that is off is switched on."""
        import sushy

        if self.status() != "on":
            self.on()
            return
        allowed = {
            str(getattr(v, "value", v)) for v in self._call("get_allowed_reset_system_values")
        }
        if "ForceRestart" in allowed:
            self._call("reset_system", sushy.RESET_FORCE_RESTART)
            return
        self.off()
        deadline = time.monotonic() + WAIT
        while self.status() != "off" and time.monotonic() < deadline:
            time.sleep(1)
        self.on()

    def boot_once(self, target: BootTarget) -> None:
        import sushy

        source = (
            sushy.BOOT_SOURCE_TARGET_PXE
            if target is BootTarget.PXE
            else sushy.BOOT_SOURCE_TARGET_UEFI_HTTP
        )
        self._call("set_system_boot_options", source, enabled=sushy.BOOT_SOURCE_ENABLED_ONCE)


def _error(settings: PowerSettings, exc: Exception) -> ProvisionError:
    # sushy's messages name the URL and the BMC's answer, never the password
    text = " ".join(str(exc).split())[:300]
    return ProvisionError(f"Redfish {settings.address}: {text}")
