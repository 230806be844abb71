"""Consistency of a binhost directory: the Packages index matches the files, and every GPKG
carries a Manifest signed by the server's key whose checksums match the package's members."""

from __future__ import annotations

import gzip
import hashlib
import tarfile
import tempfile
from pathlib import Path

from provision.errors import PublishError
from provision.run import run
from provision.signing import gpg_argv
from provision.snapshots.index import Index, parse_packages, read_index

__all__ = ["Index", "check_binhost", "check_package", "parse_manifest", "parse_packages"]
__all__ += ["read_index"]


def parse_manifest(text: str) -> dict[str, tuple[int, str]]:
    """Pure: the DATA lines of a GPKG Manifest -> member name -> (size, sha512)."""
    out: dict[str, tuple[int, str]] = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 5 and fields[0] == "DATA":
            sums = dict(zip(fields[3::2], fields[4::2], strict=False))
            out[fields[1]] = (int(fields[2]), sums.get("SHA512", ""))
    return out


def _verify_signature(text: bytes, verify_home: Path, fingerprint: str, where: str) -> None:
    with tempfile.NamedTemporaryFile(prefix="provision-manifest-") as tmp:
        tmp.write(text)
        tmp.flush()
        res = run(gpg_argv(verify_home, "--status-fd", "1", "--verify", tmp.name), check=False)
    valid = [
        line.split() for line in res.stdout.splitlines() if line.startswith("[GNUPG:] VALIDSIG ")
    ]
    if res.returncode != 0 or not any(f[-1] == fingerprint or f[2] == fingerprint for f in valid):
        raise PublishError(f"{where}: Manifest signature does not verify with key {fingerprint}")


def check_package(path: Path, verify_home: Path, fingerprint: str) -> None:
    """One GPKG: signed Manifest, and every member as the Manifest says; else PublishError."""
    try:
        with tarfile.open(path, "r:") as tar:
            members = {m.name.split("/", 1)[-1]: m for m in tar.getmembers() if m.isfile()}
            if "Manifest" not in members:
                raise PublishError(f"{path}: not signed (no Manifest)")
            fh = tar.extractfile(members["Manifest"])
            assert fh is not None
            manifest = fh.read()
            if b"-----BEGIN PGP SIGNATURE-----" not in manifest:
                raise PublishError(f"{path}: not signed (Manifest has no signature)")
            listed = parse_manifest(manifest.decode(errors="replace"))
            names = set(members) - {"Manifest"}
            if set(listed) != names:
                raise PublishError(f"{path}: members {sorted(names)} differ from the Manifest")
            for name, (size, sha512) in listed.items():
                data = tar.extractfile(members[name])
                assert data is not None
                blob = data.read()
                if len(blob) != size or hashlib.sha512(blob).hexdigest() != sha512:
                    raise PublishError(f"{path}: {name} does not match its signed checksum")
            if not any(n.endswith(".sig") for n in names):
                raise PublishError(f"{path}: not signed (no .sig members)")
    except (tarfile.TarError, OSError) as exc:
        raise PublishError(f"{path}: unreadable package: {exc}") from exc
    _verify_signature(manifest, verify_home, fingerprint, str(path))


def check_binhost(pkgdir: Path, verify_home: Path, fingerprint: str) -> Index:
    """The whole binhost: index <-> files <-> signatures.  Returns the index; PublishError else."""
    index_path = pkgdir / "Packages"
    if not index_path.is_file():
        raise PublishError(f"{pkgdir}: no Packages index")
    index = read_index(pkgdir)
    if not index.entries:
        raise PublishError(f"{index_path}: the index lists no packages")
    if index.header.get("PACKAGES") != str(len(index.entries)):
        raise PublishError(
            f"{index_path}: header says {index.header.get('PACKAGES')} packages, "
            f"lists {len(index.entries)}"
        )
    gz = pkgdir / "Packages.gz"
    if gz.is_file() and gzip.decompress(gz.read_bytes()) != index_path.read_bytes():
        raise PublishError(f"{gz}: differs from Packages")
    listed = set()
    for entry in index.entries:
        rel = entry.get("PATH", "")
        path = pkgdir / rel
        if not rel or not path.is_file():
            raise PublishError(f"{index_path}: {entry.get('CPV')}: file {rel!r} is missing")
        listed.add(rel)
        data = path.read_bytes()
        if str(len(data)) != entry.get("SIZE") or hashlib.sha1(data).hexdigest() != entry.get(
            "SHA1"
        ):
            raise PublishError(f"{path}: size or SHA1 differs from the Packages index")
        check_package(path, verify_home, fingerprint)
    stray = sorted(
        str(p.relative_to(pkgdir))
        for p in pkgdir.rglob("*.gpkg.tar")
        if str(p.relative_to(pkgdir)) not in listed
    )
    if stray:
        raise PublishError(f"{pkgdir}: packages not in the index: {', '.join(stray[:5])}")
    return index
