"""The target system: ROOT + EPREFIX, where provision keeps its etc-merge state, CONFIG_PROTECT.

Paths in the target ("target paths") are absolute paths as the target sees them below its
EROOT, e.g. /etc/ssh/sshd_config; policy globs match them.  Host paths are where the files are
on this machine (EROOT/etc/ssh/sshd_config).
"""

from __future__ import annotations

import logging
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from provision.errors import CommandError
from provision.portage.prefix import portage_tool
from provision.run import run

log = logging.getLogger(__name__)

STATE = "var/lib/provision"


@dataclass(frozen=True)
class Target:
    """A Gentoo system to work on: ROOT (/ or /mnt/gentoo) and EPREFIX ("" outside a prefix)."""

    root: Path = Path("/")
    eprefix: str = ""

    @property
    def eroot(self) -> Path:
        return self.root / self.eprefix.lstrip("/") if self.eprefix else self.root

    @property
    def state(self) -> Path:
        return self.eroot / STATE

    def host(self, tpath: str) -> Path:
        """Host path of a target path."""
        return self.eroot / tpath.lstrip("/")

    def tpath(self, host: Path) -> str:
        """Target path of a host path below EROOT (ValueError if it is not below it)."""
        return "/" + host.relative_to(self.eroot).as_posix()

    def portage_env(self) -> dict[str, str]:
        """Environment that points Portage tools (portageq) at this target."""
        return {
            "ROOT": str(self.root),
            "PORTAGE_CONFIGROOT": str(self.eroot),
            "PORTAGE_OVERRIDE_EPREFIX": self.eprefix,
            "NOCOLOR": "true",
        }


@dataclass(frozen=True)
class Protect:
    """CONFIG_PROTECT and CONFIG_PROTECT_MASK as target paths."""

    protect: tuple[str, ...]
    mask: tuple[str, ...]

    def covers(self, tpath: str) -> bool:
        """Portage's rule: the longest matching CONFIG_PROTECT entry must be longer than the
        longest matching CONFIG_PROTECT_MASK entry.  An entry matches itself and what is below
        it (/etc/foo does not match /etc/foobaz)."""
        protected = max((len(p) for p in self.protect if _below(tpath, p)), default=0)
        masked = max((len(m) for m in self.mask if _below(tpath, m)), default=0)
        return protected > masked


def _below(path: str, entry: str) -> bool:
    entry = entry.rstrip("/") or "/"
    return path == entry or path.startswith(entry if entry == "/" else entry + "/")


_ASSIGN = re.compile(r"^\s*(?:export\s+)?(CONFIG_PROTECT(?:_MASK)?)=(.*)$")


def parse_portageq(text: str) -> Protect:
    """Pure: the output of `portageq envvar -v CONFIG_PROTECT CONFIG_PROTECT_MASK`."""
    values = {"CONFIG_PROTECT": "", "CONFIG_PROTECT_MASK": ""}
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        if sep and name in values:
            values[name] = value.strip().strip("'\"")
    return Protect(
        tuple(values["CONFIG_PROTECT"].split()), tuple(values["CONFIG_PROTECT_MASK"].split())
    )


def parse_assignments(texts: list[str]) -> Protect:
    """Pure fallback: incremental CONFIG_PROTECT{,_MASK} from make.globals-like texts in order
    (make.globals, profile make.defaults, make.conf, profile.env); "-*" and "-X" remove."""
    acc: dict[str, list[str]] = {"CONFIG_PROTECT": [], "CONFIG_PROTECT_MASK": []}
    for text in texts:
        for line in text.splitlines():
            m = _ASSIGN.match(line)
            if not m:
                continue
            try:
                words = shlex.split(m.group(2), comments=True)
            except ValueError:
                continue
            name = m.group(1)
            for word in " ".join(words).split():
                if word.startswith("${") or word.startswith("$"):
                    continue  # "${CONFIG_PROTECT} /x": incremental anyway
                if word == "-*":
                    acc[name] = []
                elif word.startswith("-"):
                    acc[name] = [w for w in acc[name] if w != word[1:]]
                elif word not in acc[name]:
                    acc[name].append(word)
    return Protect(tuple(acc["CONFIG_PROTECT"]), tuple(acc["CONFIG_PROTECT_MASK"]))


def read_protect(target: Target) -> Protect:
    """CONFIG_PROTECT of the target, as real Portage computes it (portageq); if portageq cannot
    read the target's configuration, a plain reading of its config files."""
    try:
        out = run(
            [portage_tool("portageq"), "envvar", "-v", "CONFIG_PROTECT", "CONFIG_PROTECT_MASK"],
            extra_env=target.portage_env(),
            timeout=120,
        ).stdout
        return parse_portageq(out)
    except CommandError as exc:
        log.warning("portageq failed (%s); reading the config files directly", exc)
    return parse_assignments([_read(p) for p in _config_files(target)])


def _config_files(target: Target) -> list[Path]:
    e = target.eroot
    files = [e / "usr/share/portage/config/make.globals"]
    files += _profile_chain(e / "etc/portage/make.profile")
    files += [e / "etc/make.conf", e / "etc/portage/make.conf", e / "etc/profile.env"]
    return files


def _profile_chain(profile: Path, depth: int = 0) -> list[Path]:
    if depth > 20 or not profile.is_dir():
        return []
    out: list[Path] = []
    parent = profile / "parent"
    if parent.is_file():
        for line in parent.read_text(errors="replace").splitlines():
            if line.strip() and not line.startswith("#") and ":" not in line:
                out += _profile_chain((profile / line.strip()).resolve(), depth + 1)
    return [*out, profile / "make.defaults"]


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""
