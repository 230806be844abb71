"""Load a merge policy: a profile TOML (its [etc_merge]) or a standalone policy file."""

from __future__ import annotations

import tomllib
from pathlib import Path

from provision.errors import ConfigError
from provision.etcmerge.target import Target
from provision.profiles import load_profile
from provision.profiles.load import TOP_KEYS
from provision.profiles.load import _etc_merge as parse_etc_merge
from provision.profiles.model import MergePolicy

# Where an installed host keeps its profile's policy (written by the installer, optional).
TARGET_POLICY = "etc/provision/etc-merge.toml"
POLICY_KEYS = ("default", "ignore_whitespace_comments", "frozen", "rules")


def load_policy(path: Path) -> MergePolicy:
    """A profile file (with inheritance, through provision.profiles) gives its etc_merge; a
    standalone file has the same keys at the top level or in an [etc_merge] table."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(str(path), f"cannot read: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), f"not valid TOML: {exc}") from exc
    profile_keys = set(data) & (set(TOP_KEYS) - {"etc_merge"})
    if profile_keys:
        return load_profile(path).etc_merge
    table = data.get("etc_merge", data) if set(data) <= {"etc_merge"} else data
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: etc_merge", "expected a table")
    unknown = set(table) - set(POLICY_KEYS)
    if unknown:
        raise ConfigError(
            f"{path}: {sorted(unknown)[0]}",
            f"unknown key (allowed: {', '.join(POLICY_KEYS)}, or a whole profile)",
        )
    try:
        return parse_etc_merge(table)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc.where}", exc.message) from None


def policy_for_target(target: Target, path: Path | None) -> tuple[MergePolicy, str]:
    """The policy to use and where it came from: --policy, else the target's own
    /etc/provision/etc-merge.toml, else the built-in default (merge, ignore comments)."""
    if path is not None:
        return load_policy(path), str(path)
    own = target.eroot / TARGET_POLICY
    if own.is_file():
        return load_policy(own), str(own)
    return MergePolicy(), "built-in default"
