"""Does an upload hold together?  Index <-> files, each package what the index says, and the
content digest of every package (for k-of-n), before anything is signed or published.

Refused (the pass fails and the profile is held with the reason) when:
- the Packages index lists a package that was not uploaded (a missing package);
- a package file was uploaded that the index does not list (an unindexed file);
- a file's size or SHA-1 differs from its index entry, or it is not the GPKG of its CPV.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from provision.crossverify import package_from_file
from provision.errors import ConfigError, ProvisionError
from provision.farm.kofn import PackageDigest
from provision.farm.model import INDEX, Manifest, upload_path
from provision.farm.uploads import FarmLayout, Refused, have, signed_info, target
from provision.portage import gpkg
from provision.snapshots.verify import Index, parse_packages


@dataclass(frozen=True)
class Accepted:
    index: Index
    files: dict[str, Path]  # index PATH -> the file (an upload, or the server's signed copy)
    shas: dict[str, str]  # index PATH -> SHA-256 of the unsigned upload
    digests: tuple[PackageDigest, ...]


def _sha1(path: Path) -> str:
    digest = hashlib.sha1()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def digest_of(data: object) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def accept(layout: FarmLayout, slot_dir: Path, manifest: Manifest) -> Accepted:
    by_path = manifest.by_path()
    try:
        index = parse_packages(target(slot_dir, INDEX).read_text(errors="replace"))
    except (OSError, ProvisionError) as exc:
        raise Refused(f"the uploaded Packages index is unreadable: {exc}") from exc
    if index.header.get("PACKAGES", str(len(index.entries))) != str(len(index.entries)):
        raise Refused(
            f"Packages: the header says {index.header.get('PACKAGES')} packages, "
            f"the index lists {len(index.entries)}"
        )
    listed: dict[str, dict[str, str]] = {}
    for entry in index.entries:
        cpv, rel = entry.get("CPV", ""), entry.get("PATH", "")
        try:
            upload_path(rel)
        except ConfigError:
            raise Refused(f"Packages: {cpv}: PATH {rel[:80]!r} is not a package path") from None
        if rel in listed:
            raise Refused(f"Packages: {rel} is listed twice")
        listed[rel] = entry
        if rel not in by_path:
            raise Refused(f"missing package {cpv}: {rel} is in the index but was not uploaded")
    for f in manifest.packages():
        if f.path not in listed:
            raise Refused(f"unindexed file {f.path}: uploaded but not in the Packages index")
    files: dict[str, Path] = {}
    shas: dict[str, str] = {}
    digests = []
    for rel, entry in sorted(listed.items()):
        sha = by_path[rel].sha256
        if have(layout, sha):
            info = signed_info(layout, sha)
            size, sha1 = str(info.get("size")), str(info.get("sha1"))
            path = layout.signed_package(sha)
        else:
            path = target(slot_dir, rel)
            size, sha1 = str(path.stat().st_size), _sha1(path)
        if size != entry.get("SIZE") or sha1 != entry.get("SHA1"):
            raise Refused(f"{rel}: size or SHA-1 differs from its Packages entry")
        cpv = entry.get("CPV", "")
        try:
            meta = gpkg.metadata(path)
            found = f"{meta.get('CATEGORY', '').strip()}/{meta.get('PF', '').strip()}"
            if found != cpv:
                raise Refused(f"{rel}: holds {found}, the index says {cpv}")
            pkg = package_from_file(cpv, entry, path)
        except gpkg.GpkgError as exc:
            raise Refused(f"{rel}: not a readable GPKG ({exc})") from exc
        files[rel] = path
        shas[rel] = sha
        digests.append(PackageDigest(cpv, digest_of(dict(pkg.state)), digest_of(dict(pkg.files))))
    if not listed:
        raise Refused("the Packages index lists no packages")
    return Accepted(index, files, shas, tuple(digests))
