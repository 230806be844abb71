"""Power actions on one host: pick the driver for its settings and do what was asked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from provision.errors import ProvisionError
from provision.fleet.power.settings import BootTarget, PowerAction, PowerDriver, PowerSettings


class Driver(Protocol):
    def status(self) -> str: ...
    def on(self) -> None: ...
    def off(self) -> None: ...
    def cycle(self) -> None: ...
    def boot_once(self, target: BootTarget) -> None: ...


@dataclass(frozen=True)
class PowerResult:
    action: str
    state: str  # on | off | unknown (Wake-on-LAN cannot tell)
    message: str


def driver_for(settings: PowerSettings, password: str) -> Driver:
    if settings.driver is PowerDriver.REDFISH:
        from provision.fleet.power.redfish import RedfishPower

        return RedfishPower(settings, password)
    if settings.driver is PowerDriver.IPMI:
        from provision.fleet.power.ipmi import IpmiPower

        return IpmiPower(settings, password)
    raise ProvisionError(f"no driver object for {settings.driver}")


def _wake(settings: PowerSettings, mac: str) -> None:
    from provision.fleet.power.wol import send_magic_packet

    send_magic_packet(
        mac,
        broadcast=settings.broadcast,
        port=settings.effective_port,
        interface=settings.interface,
    )


def _close(driver: Driver) -> None:
    close = getattr(driver, "close", None)
    if close is not None:
        close()


def run_action(
    settings: PowerSettings, password: str, mac: str, action: PowerAction
) -> PowerResult:
    """Do one power action; ProvisionError (naming the BMC, never the password) on failure."""
    if settings.driver is PowerDriver.WOL:
        if action is PowerAction.ON:
            _wake(settings, mac)
            return PowerResult(action.value, "unknown", f"magic packet sent: {settings.describe()}")
        raise ProvisionError(
            f"Wake-on-LAN can only switch a machine on ({action.value} needs Redfish or IPMI)"
        )
    driver = driver_for(settings, password)
    try:
        if action is PowerAction.ON:
            driver.on()
        elif action is PowerAction.OFF:
            driver.off()
        elif action is PowerAction.CYCLE:
            driver.cycle()
        state = driver.status()
    finally:
        _close(driver)
    return PowerResult(action.value, state, f"{action.value}: {settings.describe()} is {state}")


def network_boot(settings: PowerSettings, password: str, mac: str) -> PowerResult:
    """Reinstall: a one-time boot from the network, then off and on again (or on)."""
    if settings.driver is PowerDriver.WOL:
        _wake(settings, mac)
        return PowerResult(
            "wake",
            "unknown",
            f"magic packet sent ({settings.describe()}); a machine that is already running "
            "must be restarted by hand",
        )
    driver = driver_for(settings, password)
    try:
        driver.boot_once(settings.boot)
        driver.cycle()
        state = driver.status()
    finally:
        _close(driver)
    return PowerResult(
        "cycle",
        state,
        f"boot once from the network ({settings.boot.value}) and power cycle: "
        f"{settings.describe()} is {state}",
    )
