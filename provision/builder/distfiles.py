"""Local distfiles: files an admin provides for fetch-restricted packages (RESTRICT=fetch, like
a vendor download or a prebuilt kernel), declared in build.toml:

    [distfiles."sys-kernel/demo-kernel-bin"]
    "demo-kernel-bin-6.1.0.vmlinuz" = "/boot/vmlinuz-*"

Before a pass the builder copies each source (the newest match of a glob) into DISTDIR under
its distfile name, and writes the package's DIST lines (BLAKE2B and SHA512, as Portage's
thin Manifests carry them) into the pass's repository snapshot, never into the admin's tree.
"""

from __future__ import annotations

import glob
import hashlib
import json
from pathlib import Path

from provision.errors import ConfigError
from provision.fsutil import copy_atomic, write_atomic


def newest(pattern: str) -> Path:
    found = [Path(p) for p in glob.glob(pattern) if Path(p).is_file()]
    if not found:
        raise ConfigError(f"distfiles: {pattern}", "no file matches (build.toml [distfiles])")
    return max(found, key=lambda p: (p.stat().st_mtime, p.name))


def provide(distdir: Path, files: dict[str, str]) -> dict[str, Path]:
    """Copy each source into distdir (only when it changed); returns name -> distfile path."""
    distdir.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, pattern in sorted(files.items()):
        src = newest(pattern)
        dst = distdir / name
        st = src.stat()
        if (
            not dst.is_file()
            or dst.stat().st_size != st.st_size
            or dst.stat().st_mtime != st.st_mtime
        ):
            copy_atomic(src, dst)
        out[name] = dst
    return out


def digests(path: Path) -> tuple[int, str, str]:
    """(size, BLAKE2B, SHA512) of a file, cached beside it by size and mtime."""
    st = path.stat()
    cache = path.with_name(f".{path.name}.digests")
    key = [st.st_size, st.st_mtime_ns]
    if cache.is_file():
        data = json.loads(cache.read_text())
        if data.get("key") == key:
            return st.st_size, data["blake2b"], data["sha512"]
    b2, s512 = hashlib.blake2b(), hashlib.sha512()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            b2.update(block)
            s512.update(block)
    write_atomic(
        cache, json.dumps({"key": key, "blake2b": b2.hexdigest(), "sha512": s512.hexdigest()})
    )
    return st.st_size, b2.hexdigest(), s512.hexdigest()


def dist_line(name: str, path: Path) -> str:
    size, b2, s512 = digests(path)
    return f"DIST {name} {size} BLAKE2B {b2} SHA512 {s512}"


def write_manifest(package_dir: Path, lines: list[str]) -> str:
    """Replace the DIST lines for these files in the package's Manifest (a new inode: the
    snapshot's files may be hard links into published snapshots).  Returns the text."""
    names = {line.split()[1] for line in lines}
    manifest = package_dir / "Manifest"
    keep = []
    if manifest.is_file():
        keep = [
            ln
            for ln in manifest.read_text().splitlines()
            if not (ln.startswith("DIST ") and ln.split()[1] in names)
        ]
    text = "\n".join(sorted([*keep, *lines])) + "\n"
    write_atomic(manifest, text)
    return text


def apply(repos: dict[str, Path], distdir: Path, spec: dict[str, dict[str, str]]) -> str:
    """Provide every declared distfile and write its package's Manifest in the repository
    snapshots; returns a digest line per package (so a new file means a new snapshot)."""
    out = []
    for package, files in sorted(spec.items()):
        dirs = [repo / package for repo in repos.values() if (repo / package).is_dir()]
        if not dirs:
            continue  # a package of another profile's repositories
        provided = provide(distdir, files)
        text = write_manifest(dirs[0], [dist_line(n, p) for n, p in sorted(provided.items())])
        out.append(f"{package} {hashlib.sha256(text.encode()).hexdigest()}")
    return "\n".join(out)
