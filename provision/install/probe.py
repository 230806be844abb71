"""Reading what is on a disk now: partition table (sfdisk --json), filesystems (blkid), mounts."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from provision.install.plan import PartitionPlan, partition_device
from provision.profiles.model import PartitionTable
from provision.run import run


@dataclass(frozen=True)
class TableEntry:
    start: int  # sectors
    size: int
    type: str


@dataclass(frozen=True)
class Table:
    label: PartitionTable | None  # None: no partition table
    id: str
    entries: tuple[TableEntry, ...]


def parse_sfdisk_json(text: str) -> Table:
    if not text.strip():
        return Table(None, "", ())
    pt = json.loads(text)["partitiontable"]
    return Table(
        label=PartitionTable.from_sfdisk(str(pt.get("label", ""))),
        id=str(pt.get("id", "")),
        entries=tuple(
            TableEntry(int(p["start"]), int(p["size"]), str(p["type"]).upper())
            for p in pt.get("partitions", [])
        ),
    )


def table_matches(table: Table, plan: PartitionPlan) -> bool:
    """Is this the table the plan writes (same id and partition geometry)?  (pure)"""
    ss = plan.sector_size
    want = [(p.start // ss, p.size // ss) for p in plan.partitions]
    have = [(e.start, e.size) for e in table.entries]
    return table.label == plan.table and table.id.upper() == plan.disk_id.upper() and want == have


def parse_blkid_export(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip()] = value.strip()
    return out


def read_table(devnode: str) -> Table:
    res = run(["sfdisk", "--json", devnode], check=False)
    return parse_sfdisk_json(res.stdout) if res.returncode == 0 else Table(None, "", ())


def blkid(device: str) -> dict[str, str]:
    """blkid's low-level probe of a device ({} when nothing is recognised)."""
    res = run(["blkid", "-p", "-o", "export", device], check=False)
    return parse_blkid_export(res.stdout) if res.returncode == 0 else {}


def settle_partitions(plan: PartitionPlan, timeout: float = 10.0) -> None:
    """Make sure the kernel knows the new partitions and their /dev nodes exist.

    With no udev (a live initramfs, a container) the nodes come from devtmpfs a little later,
    or not at all: then they are made with mknod from sysfs.
    """
    run(["partx", "-u", plan.devnode], check=False)
    disk = Path(plan.devnode).name
    deadline = time.monotonic() + timeout
    for part in plan.partitions:
        node = Path(partition_device(plan.devnode, part.number))
        sys_dev = Path("/sys/class/block") / disk / node.name / "dev"
        while not node.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        if not node.exists() and sys_dev.exists():
            major, minor = (int(x) for x in sys_dev.read_text().split(":"))
            os.mknod(node, 0o660 | 0o060000, os.makedev(major, minor))


def mounted_at(path: Path) -> bool:
    target = os.path.realpath(path)
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        if len(fields) > 4 and fields[4].encode().decode("unicode_escape") == target:
            return True
    return False
