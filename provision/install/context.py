"""What every install step gets: the target root, the config, the disk plan, events, a log."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from provision.install.config import InstallConfig
from provision.install.disks import Disk
from provision.install.events import Events
from provision.install.fetch import Keyring
from provision.install.plan import PartitionPlan
from provision.run import Result, run


@dataclass
class InstallContext:
    target: Path  # the target root (where the disk's / is mounted)
    config: InstallConfig
    disk: Disk
    plan: PartitionPlan
    events: Events
    workdir: Path  # scratch space outside the target (keyring, downloads' checksums)
    dry_run: bool = False
    keyring: Keyring | None = None
    stage_sha512: str = ""  # the expected hash, from the signed checksum file (preflight)
    unmount: bool = True  # unmount the target when finished
    uuids: dict[int, str] = field(default_factory=dict)  # partition number → filesystem UUID
    portage_env: dict[str, str] = field(default_factory=dict)  # extra environment for emerge

    @property
    def log_path(self) -> Path:
        return self.workdir / "install.log"

    def path(self, inside: str) -> Path:
        """A path inside the target root: every step writes through this (STYLE habit 3)."""
        return self.target / inside.lstrip("/")

    def sh(
        self,
        argv: Sequence[str | Path],
        *,
        input: str | bytes | None = None,
        env: dict[str, str] | None = None,
        extra_env: dict[str, str] | None = None,
        timeout: float = 3600,
    ) -> Result:
        """Run a command, logging it and its output to the install log."""
        with open(self.log_path, "a") as log:
            log.write("$ " + shlex.join(str(a) for a in argv) + "\n")
        return run(
            argv, input=input, env=env, extra_env=extra_env, timeout=timeout, log_path=self.log_path
        )

    def read_uuids(self) -> dict[int, str]:
        """Filesystem UUIDs of the new partitions, as blkid reads them (cached)."""
        from provision.install.plan import partition_device
        from provision.install.probe import blkid

        if not self.uuids:
            for part in self.plan.partitions:
                if part.filesystem:
                    found = blkid(partition_device(self.plan.devnode, part.number))
                    self.uuids[part.number] = found.get("UUID", "") or part.uuid
        return self.uuids

    def note(self, text: str) -> None:
        with open(self.log_path, "a") as log:
            log.write(text.rstrip("\n") + "\n")
