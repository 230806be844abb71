"""Cross-verification: compare this binhost with another builder's (the seeds' "trust by
cross-verification").  For every package both have with the same build state (CHOST, CFLAGS,
CXXFLAGS, LDFLAGS, USE, SLOT, dependencies), compare the SHA-256 of every file in the image;
the builders' EPREFIX and signatures may differ, the payload should not.
"""

from __future__ import annotations

import shutil
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from provision.errors import ProvisionError
from provision.portage import gpkg
from provision.portage.gpkg import FileKind
from provision.snapshots.index import Index, parse_packages

STATE_KEYS_INDEX = ("USE", "SLOT", "DEPEND", "RDEPEND", "BDEPEND", "EAPI")
STATE_KEYS_META = ("CHOST", "CFLAGS", "CXXFLAGS", "LDFLAGS")


class Verdict(StrEnum):
    AGREE = "agree"
    DIFFER = "differ"
    STATE_DIFFERS = "build-state-differs"
    ONLY_HERE = "only-here"
    ONLY_THERE = "only-there"


@dataclass(frozen=True)
class Comparison:
    cpv: str
    verdict: Verdict
    details: tuple[str, ...] = ()


@dataclass(frozen=True)
class Package:
    """What cross-verification needs of one binary package."""

    cpv: str
    state: Mapping[str, str]
    files: Mapping[str, str] = field(default_factory=dict)  # path (EPREFIX stripped) -> sha256/kind


def latest(index: Index) -> dict[str, dict[str, str]]:
    """CPV -> index entry of its newest instance (highest BUILD_ID)."""
    out: dict[str, dict[str, str]] = {}
    for entry in index.entries:
        cpv = entry.get("CPV", "")
        old = out.get(cpv)
        if old is None or int(entry.get("BUILD_ID", "0") or 0) > int(old.get("BUILD_ID", "0") or 0):
            out[cpv] = entry
    return out


def compare(here: Package, there: Package) -> Comparison:
    """Pure: the verdict for one package present on both builders."""
    state = [
        f"{k}: {here.state.get(k, '')!r} here, {there.state.get(k, '')!r} there"
        for k in sorted(set(here.state) | set(there.state))
        if here.state.get(k, "") != there.state.get(k, "")
    ]
    if state:
        return Comparison(here.cpv, Verdict.STATE_DIFFERS, tuple(state))
    diffs = []
    for path in sorted(set(here.files) | set(there.files)):
        a, b = here.files.get(path), there.files.get(path)
        if a != b:
            what = (
                "missing there" if b is None else "missing here" if a is None else "content differs"
            )
            diffs.append(f"{path}: {what}")
    return Comparison(here.cpv, Verdict.DIFFER if diffs else Verdict.AGREE, tuple(diffs))


def package_from_file(cpv: str, entry: Mapping[str, str], path: Path) -> Package:
    meta = gpkg.metadata(path)
    eprefix = meta.get("EPREFIX", "").strip()
    state = {k: entry.get(k, "") for k in STATE_KEYS_INDEX}
    state |= {k: meta.get(k, "").strip() for k in STATE_KEYS_META}
    files = {}
    for f in gpkg.image_manifest(path):
        rel = f.path[len(eprefix) :] if eprefix and f.path.startswith(eprefix) else f.path
        if f.kind is FileKind.DIR:
            continue
        files[rel or "/"] = f.sha256 or f"{f.kind}:{f.target}"
    return Package(cpv, state, files)


Fetch = Callable[[str, Path], None]


def http_fetch(url: str, dest: Path) -> None:
    try:
        with urllib.request.urlopen(url, timeout=60) as resp, open(dest, "wb") as out:
            shutil.copyfileobj(resp, out, 1 << 20)
    except (urllib.error.URLError, OSError) as exc:
        raise ProvisionError(f"cannot fetch {url}: {exc}") from exc


def cross_verify(
    local_binhost: Path, remote_url: str, *, fetch: Fetch = http_fetch
) -> list[Comparison]:
    """Compare the binhost directory local_binhost with the binhost at remote_url."""
    base = remote_url.rstrip("/") + "/"
    index_path = local_binhost / "Packages"
    if not index_path.is_file():
        raise ProvisionError(f"{local_binhost}: no Packages index (nothing published?)")
    here_index = latest(parse_packages(index_path.read_text()))
    with tempfile.TemporaryDirectory(prefix="provision-verify-") as tmp:
        remote_index_path = Path(tmp) / "Packages"
        fetch(base + "Packages", remote_index_path)
        there_index = latest(parse_packages(remote_index_path.read_text()))
        out: list[Comparison] = []
        for cpv in sorted(set(here_index) | set(there_index)):
            if cpv not in there_index:
                out.append(Comparison(cpv, Verdict.ONLY_HERE))
                continue
            if cpv not in here_index:
                out.append(Comparison(cpv, Verdict.ONLY_THERE))
                continue
            here_entry, there_entry = here_index[cpv], there_index[cpv]
            remote_file = Path(tmp) / "pkg.gpkg.tar"
            fetch(base + there_entry["PATH"], remote_file)
            here = package_from_file(cpv, here_entry, local_binhost / here_entry["PATH"])
            there = package_from_file(cpv, there_entry, remote_file)
            out.append(compare(here, there))
            remote_file.unlink()
    return out


def render_report(results: list[Comparison]) -> str:
    """Pure: one line per package, details indented, then totals."""
    lines = []
    for r in results:
        lines.append(f"{r.verdict.value:20} {r.cpv}")
        lines += [f"    {d}" for d in r.details]
    counts = {v: sum(1 for r in results if r.verdict is v) for v in Verdict}
    lines.append(", ".join(f"{n} {v.value}" for v, n in counts.items() if n) or "no packages")
    return "\n".join(lines) + "\n"
