"""Discovery rules: PROFILES_DIR/rules.toml, validated once at load into typed Rule models.

    [[rule]]
    name = "thinkpads"            # optional (default rule-N); counts for max_hosts go by name
    profile = "laptop-amd64"      # must be a profile of the directory
    priority = 10                 # higher first; equal priorities keep file order
    chassis = ["laptop"]          # any of: laptop, desktop, server, other
    vendor = "LENOVO*"            # DMI vendor glob(s), case-insensitive (a string or a list)
    product = ["ThinkPad T4*"]    # DMI product glob(s)
    cpu_level = "v2"              # at least this x86-64 level
    cpu_flags = ["aes", "avx2"]   # all of these (/proc/cpuinfo spelling; sse3, lzcnt... accepted)
    min_ram = "4G"                # memory at least / at most
    max_ram = "64G"
    min_disk_size = "100G"        # at least one fixed disk this large
    min_disks = 1                 # fixed (not removable) disks, at least / at most
    max_disks = 2
    mac_prefix = ["52:54:00"]     # the MAC starts with one of these
    max_hosts = 50                # hosts this rule may assign
    hostname = "{chassis}-{serial}"  # placeholders: chassis serial vendor product mac profile rule
    wipe = false                  # may the installer wipe a disk that holds partitions

Every error names the file, the rule and the key, in one line (ConfigError).
"""

from __future__ import annotations

import re
import string
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provision.errors import ConfigError
from provision.fleet.cpu import Level
from provision.fleet.inventory import Chassis
from provision.profiles import validate as v

RULES_FILE = "rules.toml"
RULES_MAX = 1000
KEYS = (
    "name", "profile", "priority", "chassis", "vendor", "product", "cpu_level", "cpu_flags",
    "min_ram", "max_ram", "min_disk_size", "min_disks", "max_disks", "mac_prefix", "max_hosts",
    "hostname", "wipe",
)  # fmt: skip
PLACEHOLDERS = ("chassis", "serial", "vendor", "product", "mac", "profile", "rule")
# other spellings of cpuinfo flags people write in rules
FLAG_ALIASES = {
    "sse3": "pni",
    "lzcnt": "abm",
    "lahf": "lahf_lm",
    "sahf": "lahf_lm",
    "cmpxchg16b": "cx16",
    "fma3": "fma",
    "pclmul": "pclmulqdq",
    "sha": "sha_ni",
    "osxsave": "xsave",
    "sse4.1": "sse4_1",
    "sse4.2": "sse4_2",
}
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")
_FLAG_RE = re.compile(r"[a-z0-9_.]{1,40}\Z")
_PREFIX_RE = re.compile(r"[0-9a-f]{2}([:-]?[0-9a-f]{2}){0,5}\Z")
_GLOB_MAX = 128
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_TEMPLATE_TEXT = re.compile(r"[a-z0-9.-]*\Z")


@dataclass(frozen=True)
class Rule:
    name: str
    profile: str
    index: int  # 1-based position in the file
    priority: int = 0
    chassis: tuple[Chassis, ...] = ()
    vendor: tuple[str, ...] = ()
    product: tuple[str, ...] = ()
    cpu_level: Level | None = None
    cpu_flags: tuple[str, ...] = ()
    min_ram: int | None = None
    max_ram: int | None = None
    min_disk_size: int | None = None
    min_disks: int | None = None
    max_disks: int | None = None
    mac_prefix: tuple[str, ...] = ()
    max_hosts: int | None = None
    hostname: str = ""
    wipe: bool = False

    def __post_init__(self) -> None:
        if any(not isinstance(c, Chassis) for c in self.chassis):
            raise TypeError(f"Rule.chassis: {self.chassis!r} are not Chassis values")
        if self.cpu_level is not None and not isinstance(self.cpu_level, Level):
            raise TypeError(f"Rule.cpu_level: {self.cpu_level!r} is not a Level")


@dataclass(frozen=True)
class RuleSet:
    path: Path
    rules: tuple[Rule, ...]  # in evaluation order (priority, then file order)

    def __iter__(self) -> Any:
        return iter(self.rules)

    def __len__(self) -> int:
        return len(self.rules)


def rules_path(profiles_dir: Path) -> Path:
    return profiles_dir / RULES_FILE


def load_rules(profiles_dir: Path, profile_names: Iterable[str]) -> RuleSet:
    """PROFILES_DIR/rules.toml (no file: no rules), validated against the profile names."""
    path = rules_path(profiles_dir)
    if not path.is_file():
        return RuleSet(path, ())
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), f"cannot read: {exc}") from exc
    return parse_rules(text, path, profile_names)


def parse_rules(text: str, path: Path, profile_names: Iterable[str]) -> RuleSet:
    """Pure: a rules.toml text into a RuleSet (ConfigError on the first problem)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), f"not valid TOML: {exc}") from exc
    for key in data:
        if key != "rule":
            raise ConfigError(f"{path}: {key}", "unknown key (allowed: [[rule]] tables)")
    raw = data.get("rule", [])
    if not isinstance(raw, list) or not all(isinstance(r, dict) for r in raw):
        raise ConfigError(f"{path}: rule", "expected [[rule]] tables")
    if len(raw) > RULES_MAX:
        raise ConfigError(f"{path}: rule", f"more than {RULES_MAX} rules")
    known = sorted(profile_names)
    rules = [_rule(path, i, r, known) for i, r in enumerate(raw, start=1)]
    seen: dict[str, int] = {}
    for rule in rules:
        if rule.name in seen:
            raise ConfigError(
                f"{path}: rule {rule.index}",
                f"name {rule.name!r} is already used by rule {seen[rule.name]}",
            )
        seen[rule.name] = rule.index
    ordered = sorted(rules, key=lambda r: (-r.priority, r.index))
    return RuleSet(path, tuple(ordered))


def _strings(key: str, value: Any) -> tuple[str, ...]:
    """A string or a list of strings."""
    if isinstance(value, str):
        return (value,)
    return v.string_list(key, value)


def _glob(key: str, value: str) -> str:
    if not value or len(value) > _GLOB_MAX or _CONTROL.search(value):
        raise ConfigError(key, f"{value[:40]!r} is not a pattern (1 to {_GLOB_MAX} characters)")
    depth = 0
    for ch in value:
        if ch == "[":
            if depth:
                raise ConfigError(key, f"{value!r}: '[' inside a [...] set")
            depth = 1
        elif ch == "]" and depth:
            depth = 0
    if depth or "[]" in value or "[!]" in value:
        raise ConfigError(key, f"{value!r}: a [...] set is not closed or is empty")
    return value


def _flag(key: str, value: str) -> str:
    flag = FLAG_ALIASES.get(value.lower(), value.lower())
    if not _FLAG_RE.match(flag):
        raise ConfigError(key, f"{value!r} is not a CPU flag (as /proc/cpuinfo spells it)")
    return flag


def _mac_prefix(key: str, value: str) -> str:
    text = value.strip().lower()
    if not _PREFIX_RE.match(text):
        raise ConfigError(key, f"{value!r} is not a MAC prefix (whole octets: 52:54:00)")
    digits = re.sub(r"[^0-9a-f]", "", text)
    return ":".join(digits[i : i + 2] for i in range(0, len(digits), 2))


def _count(key: str, value: Any, low: int = 0) -> int:
    n = v.expect(key, value, int, "an integer")
    if not low <= n <= 1_000_000:
        raise ConfigError(key, f"{n} is out of range ({low} to 1000000)")
    return n


def _size(key: str, value: Any) -> int:
    n = v.size(key, value)
    assert n is not None
    return n


def check_template(key: str, template: str) -> str:
    """A host-name template: known placeholders, no format specs, DNS-safe literal text."""
    if len(template) > 200 or _CONTROL.search(template):
        raise ConfigError(key, "a host-name template is at most 200 printable characters")
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ConfigError(key, f"{template!r}: {exc}") from exc
    for literal, field, spec, conversion in parts:
        if not _TEMPLATE_TEXT.match(literal):
            raise ConfigError(
                key, f"{template!r}: text outside placeholders must be a-z, 0-9, '-' or '.'"
            )
        if field is None:
            continue
        if field not in PLACEHOLDERS:
            raise ConfigError(
                key, f"{template!r}: unknown placeholder {{{field}}} "
                f"(known: {', '.join('{' + p + '}' for p in PLACEHOLDERS)})",
            )  # fmt: skip
        if spec or conversion:
            raise ConfigError(key, f"{template!r}: no format specs or conversions in {{{field}}}")
    return template


def _rule(path: Path, index: int, r: dict[str, Any], profiles: list[str]) -> Rule:
    name = r.get("name", f"rule-{index}")
    shown = "name" in r and isinstance(name, str) and _NAME_RE.match(name)
    label = f"{path}: rule {index}" + (f" ({name})" if shown else "")
    v.no_unknown(label, r, KEYS)

    def key(k: str) -> str:
        return f"{label}.{k}"

    name = v.string(key("name"), name)
    if not _NAME_RE.match(name):
        raise ConfigError(key("name"), f"{name!r} is not a rule name (letters, digits, _ . -)")
    if "profile" not in r:
        raise ConfigError(key("profile"), "required: the profile this rule assigns")
    profile = v.string(key("profile"), r["profile"])
    if profile not in profiles:
        raise ConfigError(
            key("profile"), f"unknown profile {profile!r} (known: {', '.join(profiles) or 'none'})"
        )
    chassis_values = tuple(c.value for c in Chassis)
    chassis = tuple(
        Chassis(v.choice(key("chassis"), c, chassis_values))
        for c in _strings(key("chassis"), r.get("chassis", []))
    )
    level = Level.parse(key("cpu_level"), r["cpu_level"]) if "cpu_level" in r else None
    rule = Rule(
        name=name,
        profile=profile,
        index=index,
        priority=v.expect(key("priority"), r.get("priority", 0), int, "an integer"),
        chassis=chassis,
        vendor=tuple(_glob(key("vendor"), g) for g in _strings(key("vendor"), r.get("vendor", []))),
        product=tuple(
            _glob(key("product"), g) for g in _strings(key("product"), r.get("product", []))
        ),
        cpu_level=level,
        cpu_flags=tuple(
            _flag(key("cpu_flags"), f) for f in _strings(key("cpu_flags"), r.get("cpu_flags", []))
        ),
        min_ram=_size(key("min_ram"), r["min_ram"]) if "min_ram" in r else None,
        max_ram=_size(key("max_ram"), r["max_ram"]) if "max_ram" in r else None,
        min_disk_size=(
            _size(key("min_disk_size"), r["min_disk_size"]) if "min_disk_size" in r else None
        ),
        min_disks=_count(key("min_disks"), r["min_disks"]) if "min_disks" in r else None,
        max_disks=_count(key("max_disks"), r["max_disks"]) if "max_disks" in r else None,
        mac_prefix=tuple(
            _mac_prefix(key("mac_prefix"), p)
            for p in _strings(key("mac_prefix"), r.get("mac_prefix", []))
        ),
        max_hosts=_count(key("max_hosts"), r["max_hosts"], 1) if "max_hosts" in r else None,
        hostname=check_template(key("hostname"), v.string(key("hostname"), r.get("hostname", ""))),
        wipe=v.boolean(key("wipe"), r.get("wipe", False)),
    )
    if rule.min_ram and rule.max_ram and rule.min_ram > rule.max_ram:
        raise ConfigError(key("max_ram"), "is below min_ram: no machine can match")
    if (
        rule.min_disks is not None
        and rule.max_disks is not None
        and rule.min_disks > rule.max_disks
    ):
        raise ConfigError(key("max_disks"), "is below min_disks: no machine can match")
    return rule
