"""The fleet's tables in the server's SQLite file: inventories, power settings (the password
encrypted), assignments made by rules, and the admin's CPU-fit overrides.

Rows belong to a host (foreign key on hosts.mac, deleted with it).  `assign_by_rules` makes
a rule's decision and writes it in one write transaction, so two machines reporting at the
same time cannot both take the last place of a rule's `max_hosts` or the same host name.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from provision.errors import NotFound
from provision.fleet.inventory import Inventory, parse_inventory
from provision.fleet.match import Decision
from provision.names import check_hostname, normalize_mac
from provision.server.db import Database
from provision.server.store import SCHEMA as HOSTS_SCHEMA

# the hosts table first: the fleet tables refer to it (and join it)
SCHEMA = (
    HOSTS_SCHEMA
    + """
CREATE TABLE IF NOT EXISTS fleet_inventory (
    mac TEXT PRIMARY KEY REFERENCES hosts(mac) ON DELETE CASCADE,
    doc TEXT NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS fleet_power (
    mac TEXT PRIMARY KEY REFERENCES hosts(mac) ON DELETE CASCADE,
    settings TEXT NOT NULL,
    secret TEXT NOT NULL DEFAULT '',
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS fleet_assignments (
    mac TEXT PRIMARY KEY REFERENCES hosts(mac) ON DELETE CASCADE,
    rule TEXT NOT NULL,
    profile TEXT NOT NULL,
    time REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS fleet_cpu_override (
    mac TEXT PRIMARY KEY REFERENCES hosts(mac) ON DELETE CASCADE,
    profile TEXT NOT NULL,
    time REAL NOT NULL
);
"""
)


@dataclass(frozen=True)
class StoredInventory:
    inventory: Inventory
    updated: float


@dataclass(frozen=True)
class StoredPower:
    settings: dict[str, Any]  # the public form (provision.fleet.power.settings)
    secret: str  # the encrypted password ("" = none)
    updated: float


@dataclass(frozen=True)
class Assignment:
    rule: str
    profile: str
    time: float


# decide(counts per rule, host names in use by others) -> the decision to write
Decide = Callable[[dict[str, int], frozenset[str]], Decision]


class FleetStore(Database):
    SCHEMA = SCHEMA

    def _require_host(self, mac: str) -> None:
        if self._db.execute("SELECT 1 FROM hosts WHERE mac = ?", (mac,)).fetchone() is None:
            raise NotFound(f"unknown host {mac}")

    # --- inventory ---------------------------------------------------------------------------
    def set_inventory(self, mac: str, inventory: Inventory) -> None:
        mac = normalize_mac(mac)
        doc = json.dumps(inventory.to_doc(), sort_keys=True)
        with self._tx() as db:
            self._require_host(mac)
            db.execute(
                "INSERT OR REPLACE INTO fleet_inventory (mac, doc, updated) VALUES (?, ?, ?)",
                (mac, doc, time.time()),
            )

    def inventory(self, mac: str) -> StoredInventory | None:
        row = self._db.execute(
            "SELECT doc, updated FROM fleet_inventory WHERE mac = ?", (normalize_mac(mac),)
        ).fetchone()
        if row is None:
            return None
        return StoredInventory(parse_inventory(json.loads(row["doc"])), row["updated"])

    # --- power -------------------------------------------------------------------------------
    def set_power(self, mac: str, settings: dict[str, Any], secret: str | None) -> None:
        """Store the public settings; secret None keeps the stored (encrypted) password."""
        mac = normalize_mac(mac)
        text = json.dumps(settings, sort_keys=True)
        with self._tx() as db:
            self._require_host(mac)
            old = db.execute("SELECT secret FROM fleet_power WHERE mac = ?", (mac,)).fetchone()
            keep = old["secret"] if old is not None else ""
            db.execute(
                "INSERT OR REPLACE INTO fleet_power (mac, settings, secret, updated)"
                " VALUES (?, ?, ?, ?)",
                (mac, text, keep if secret is None else secret, time.time()),
            )

    def power(self, mac: str) -> StoredPower | None:
        row = self._db.execute(
            "SELECT settings, secret, updated FROM fleet_power WHERE mac = ?",
            (normalize_mac(mac),),
        ).fetchone()
        if row is None:
            return None
        return StoredPower(json.loads(row["settings"]), row["secret"], row["updated"])

    def delete_power(self, mac: str) -> bool:
        with self._tx() as db:
            cur = db.execute("DELETE FROM fleet_power WHERE mac = ?", (normalize_mac(mac),))
            return cur.rowcount > 0

    # --- rule assignments --------------------------------------------------------------------
    def assignment(self, mac: str) -> Assignment | None:
        row = self._db.execute(
            "SELECT a.rule, a.profile, a.time FROM fleet_assignments a"
            " JOIN hosts h ON h.mac = a.mac AND h.profile = a.profile WHERE a.mac = ?",
            (normalize_mac(mac),),
        ).fetchone()
        return Assignment(row["rule"], row["profile"], row["time"]) if row else None

    def rule_counts(self) -> dict[str, int]:
        """Hosts each rule assigned that still have the rule's profile."""
        return self._counts(exclude="")

    def _counts(self, exclude: str) -> dict[str, int]:
        rows = self._db.execute(
            "SELECT a.rule, COUNT(*) AS n FROM fleet_assignments a"
            " JOIN hosts h ON h.mac = a.mac AND h.profile = a.profile"
            " WHERE a.mac != ? GROUP BY a.rule",
            (exclude,),
        ).fetchall()
        return {r["rule"]: r["n"] for r in rows}

    def assign_by_rules(self, mac: str, decide: Decide) -> Decision | None:
        """For a host with no profile that is not installed: decide (in the transaction) and
        write the decision (profile, host name, wipe, the rule).  None: the host already has
        a profile or boots locally (nothing decided)."""
        mac = normalize_mac(mac)
        with self._tx() as db:
            host = db.execute(
                "SELECT profile, boot_local FROM hosts WHERE mac = ?", (mac,)
            ).fetchone()
            if host is None:
                raise NotFound(f"unknown host {mac}")
            if host["profile"] or host["boot_local"]:
                return None
            taken = frozenset(
                r["hostname"]
                for r in db.execute(
                    "SELECT hostname FROM hosts WHERE mac != ? AND hostname != ''", (mac,)
                )
            )
            decision = decide(self._counts(exclude=mac), taken)
            rule = decision.rule
            if rule is None:
                return decision
            now = time.time()
            db.execute(
                "UPDATE hosts SET profile = ?, updated = ? WHERE mac = ?", (rule.profile, now, mac)
            )
            if decision.hostname:
                db.execute(
                    "UPDATE hosts SET hostname = ? WHERE mac = ?",
                    (check_hostname(decision.hostname), mac),
                )
            if rule.wipe:
                db.execute("UPDATE hosts SET wipe = 1 WHERE mac = ?", (mac,))
            db.execute(
                "INSERT OR REPLACE INTO fleet_assignments (mac, rule, profile, time)"
                " VALUES (?, ?, ?, ?)",
                (mac, rule.name, rule.profile, now),
            )
            return decision

    # --- CPU-fit overrides (admin) -----------------------------------------------------------
    def set_cpu_override(self, mac: str, profile: str | None) -> None:
        """The admin installs `profile` on this host although its CPU does not fit (None:
        no override)."""
        mac = normalize_mac(mac)
        with self._tx() as db:
            db.execute("DELETE FROM fleet_cpu_override WHERE mac = ?", (mac,))
            if profile:
                self._require_host(mac)
                db.execute(
                    "INSERT INTO fleet_cpu_override (mac, profile, time) VALUES (?, ?, ?)",
                    (mac, profile, time.time()),
                )

    def cpu_override(self, mac: str) -> str:
        """The profile the admin forced on this host ("" = none)."""
        row = self._db.execute(
            "SELECT profile FROM fleet_cpu_override WHERE mac = ?", (normalize_mac(mac),)
        ).fetchone()
        return str(row["profile"]) if row else ""
