"""The fleet on the server: inventories in, rule decisions out, profile fit for every place a
profile is chosen, and power actions.  Routes (routes/fleet.py, the picker, the host pages,
the admin API) call these; everything they decide is computed by provision.fleet (pure).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from flask import Flask

from provision.errors import ConfigError, NotFound, ProvisionError
from provision.fleet.fit import (
    CpuRequirement,
    Fit,
    fit,
    profile_fits,
    profile_requirements,
)
from provision.fleet.inventory import Inventory
from provision.fleet.match import Decision, Facts, evaluate, explain_host
from provision.fleet.power.control import PowerResult, network_boot, run_action
from provision.fleet.power.secret import seal, unseal
from provision.fleet.power.settings import (
    PowerAction,
    PowerSettings,
    check_allowed,
    parse_power,
    settings_from_public,
)
from provision.fleet.rules import RuleSet, load_rules
from provision.hosts import Host
from provision.profiles import ProfileSet
from provision.server import services
from provision.server.app import settings_of
from provision.server.fleet_store import FleetStore

log = logging.getLogger("provision.fleet")
KEY = "provision.fleet.store"


def fleet_store(app: Flask | None = None) -> FleetStore:
    """The app's fleet tables (closed with the app's other stores: the key ends in .store)."""
    app = services.app_of(app)
    return services.extension(app, KEY, lambda: FleetStore.in_data_dir(settings_of(app).data_dir))


def rule_set(app: Flask | None = None) -> RuleSet:
    """PROFILES_DIR/rules.toml, validated (ConfigError: one line naming rule and key)."""
    profiles = services.profiles(app)
    return load_rules(profiles.directory, profiles.names())


def rules_or_error(app: Flask | None = None) -> tuple[RuleSet | None, str]:
    try:
        return rule_set(app), ""
    except ConfigError as exc:
        return None, str(exc)


# --- profile fit -----------------------------------------------------------------------------
def requirements(profiles: ProfileSet) -> dict[str, CpuRequirement | str]:
    """Each profile's CPU requirement, or the error that keeps it from being known."""
    return profile_requirements(profiles)


def fits(inventory: Inventory, profiles: ProfileSet) -> dict[str, Fit]:
    return profile_fits(profile_requirements(profiles), inventory.cpu.arch, inventory.cpu.flags)


def profile_fit(mac: str, profile: str, app: Flask | None = None) -> Fit | None:
    """Can this host run `profile`?  None when the host has not reported its hardware."""
    stored = fleet_store(app).inventory(mac)
    if stored is None:
        return None
    profiles = services.profiles(app)
    req = requirements(profiles).get(profile)
    if req is None:
        return None
    if isinstance(req, str):
        return Fit(False, (), f"its CPU requirement is unknown: {req}")
    return fit(req, stored.inventory.cpu.arch, stored.inventory.cpu.flags)


def check_assignment(
    mac: str, profile: str, *, admin: bool, force: bool, app: Flask | None = None
) -> None:
    """Refuse a profile the host's CPU cannot run (ProvisionError naming the missing flags);
    an admin may force it, which the installer then honours for this profile only."""
    found = profile_fit(mac, profile, app)
    store = fleet_store(app)
    if found is None or found.ok:
        store.set_cpu_override(mac, None)
        return
    if admin and force:
        log.warning("admin forces profile %s on %s: %s", profile, mac, found.reason)
        store.set_cpu_override(mac, profile)
        return
    hint = " (an admin may force it)" if not admin else " (tick 'force' to install it anyway)"
    raise ProvisionError(f"this machine cannot run {profile}: {found.reason}{hint}")


def forced(host: Host, app: Flask | None = None) -> bool:
    """Did an admin force the host's current profile past the CPU check?"""
    return bool(host.profile) and fleet_store(app).cpu_override(host.mac) == host.profile


# --- rules -----------------------------------------------------------------------------------
def _facts(
    app: Flask, mac: str, inventory: Inventory, counts: dict[str, int], taken: frozenset[str]
) -> Facts:
    return Facts(mac, inventory, fits(inventory, services.profiles(app)), counts, taken)


def explain(mac: str, app: Flask | None = None) -> tuple[Decision | None, list[str]]:
    """What the rules decide for a host now (read-only), in words."""
    app = services.app_of(app)
    stored = fleet_store(app).inventory(mac)
    if stored is None:
        return None, [f"{mac} has not reported its hardware yet (it does when it boots the "
                      "live environment)"]  # fmt: skip
    rules, error = rules_or_error(app)
    if rules is None:
        return None, [f"rules.toml has an error: {error}"]
    if not len(rules):
        return None, [f"no rules ({rules.path} has none): every machine waits in the picker"]
    store = fleet_store(app)
    taken = [h.hostname for h in services.store(app).hosts() if h.mac != mac and h.hostname]
    mine = store.assignment(mac)
    decision = explain_host(
        rules,
        mac,
        stored.inventory,
        fits(stored.inventory, services.profiles(app)),
        store.rule_counts(),
        mine.rule if mine else "",
        taken,
    )
    return decision, decision.explain()


@dataclass(frozen=True)
class Reported:
    """The server's answer to an inventory report."""

    host: Host
    decision: Decision | None  # None: nothing was decided (the host had a profile)
    lines: list[str]

    def as_dict(self, picker_url: str) -> dict[str, Any]:
        rule = self.decision.rule if self.decision else None
        return {
            "profile": self.host.profile,
            "hostname": self.host.hostname,
            "assigned": bool(self.host.profile),
            "rule": rule.name if rule else "",
            "explain": self.lines,
            "picker": picker_url,
        }


def receive_inventory(host: Host, inventory: Inventory, app: Flask | None = None) -> Reported:
    """Store a host's report; a host without a profile then gets one from the rules."""
    app = services.app_of(app)
    store = fleet_store(app)
    store.set_inventory(host.mac, inventory)
    level = inventory.cpu.level
    log.info(
        "inventory from %s: %s, %s, %s %s",
        host.mac,
        level.label if level else inventory.cpu.arch,
        inventory.dmi.chassis.value,
        inventory.dmi.vendor,
        inventory.dmi.product,
    )
    if host.profile or host.boot_local:
        found = profile_fit(host.mac, host.profile, app) if host.profile else None
        lines = [f"{host.mac} already has profile {host.profile or '(none)'}"]
        if found is not None and not found.ok:
            lines.append(f"but its CPU cannot run it: {found.reason}")
        return Reported(host, None, lines)
    rules, error = rules_or_error(app)
    if rules is None:
        log.warning("rules.toml: %s", error)
        return Reported(host, None, [f"rules.toml has an error: {error}"])

    def decide(counts: dict[str, int], taken: frozenset[str]) -> Decision:
        return evaluate(rules, _facts(app, host.mac, inventory, counts, taken))

    decision = store.assign_by_rules(host.mac, decide)
    now = services.store(app).host(host.mac)
    if decision is None:
        return Reported(now, None, [f"{host.mac} already has profile {now.profile}"])
    if decision.rule is not None:
        log.info(
            "rule %s assigns %s to %s%s",
            decision.rule.name,
            decision.rule.profile,
            host.mac,
            f" as {decision.hostname}" if decision.hostname else "",
        )
    return Reported(now, decision, decision.explain())


# --- power -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class PowerView:
    settings: PowerSettings
    has_password: bool


def power_view(mac: str, app: Flask | None = None) -> PowerView | None:
    stored = fleet_store(app).power(mac)
    if stored is None:
        return None
    return PowerView(settings_from_public(stored.settings), bool(stored.secret))


def save_power(mac: str, doc: Any, app: Flask | None = None) -> PowerView:
    """Validate and store; the password (if given) encrypted; ConfigError on bad input."""
    app = services.app_of(app)
    settings, password = parse_power(doc)
    check_allowed(settings, settings_of(app).power_networks)
    store = fleet_store(app)
    old = store.power(mac)
    if settings.needs_password and password is None and not (old and old.secret):
        raise ConfigError("power.password", f"required for {settings.driver.value}")
    secret = None
    if not settings.needs_password:
        secret = ""
    elif password is not None:
        secret = seal(settings_of(app).secret_key, password)
    store.set_power(mac, settings.public(), secret)
    log.info("power settings of %s: %s", mac, settings.describe())
    view = power_view(mac, app)
    assert view is not None
    return view


def _settings_and_password(mac: str, app: Flask) -> tuple[PowerSettings, str]:
    stored = fleet_store(app).power(mac)
    if stored is None:
        raise NotFound(f"{mac} has no power settings")
    settings = settings_from_public(stored.settings)
    check_allowed(settings, settings_of(app).power_networks)
    password = unseal(settings_of(app).secret_key, stored.secret) if stored.secret else ""
    return settings, password


def power_action(mac: str, action: PowerAction, app: Flask | None = None) -> PowerResult:
    app = services.app_of(app)
    settings, password = _settings_and_password(mac, app)
    log.info("power %s of %s via %s", action.value, mac, settings.describe())
    return run_action(settings, password, mac, action)


def reinstall_power(mac: str, app: Flask | None = None) -> PowerResult | None:
    """After a reinstall request: boot once from the network and power cycle, when the host
    has power settings (None when it has none: it reinstalls at its next network boot)."""
    app = services.app_of(app)
    if fleet_store(app).power(mac) is None:
        return None
    settings, password = _settings_and_password(mac, app)
    log.info("reinstall of %s: network boot via %s", mac, settings.describe())
    return network_boot(settings, password, mac)


def reinstall_power_report(mac: str, app: Flask | None = None) -> dict[str, Any] | None:
    """reinstall_power as JSON for the API and a line for the UI; a BMC failure is reported,
    not raised (the reinstall itself is recorded either way)."""
    try:
        result = reinstall_power(mac, app)
    except ProvisionError as exc:
        log.warning("reinstall of %s: power control failed: %s", mac, exc)
        return {"ok": False, "error": str(exc)}
    if result is None:
        return None
    return {"ok": True, "action": result.action, "state": result.state, "message": result.message}
