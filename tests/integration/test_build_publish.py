"""Issue 3, shows 1-3: a demo profile builds and publishes a signed binhost; a stock Portage
client installs it over HTTP with verify-signature = true; altered packages are refused."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import tarfile
import urllib.request
from pathlib import Path

import pytest

from provision.errors import PublishError
from provision.run import run
from provision.signing import gpg_argv, stop_agents
from provision.snapshots.layout import DataLayout
from provision.snapshots.verify import check_binhost, read_index
from tests.integration import build_fixtures
from tests.integration.build_fixtures import (
    DemoBinhost,
    client_dir,
    client_for,
    provision,
    serve,
)

demo_binhost = build_fixtures.demo_binhost  # the session fixture

EXPECTED = [
    "app-admin/democonf-1.0",
    "app-misc/hello-1.0",
    "sys-apps/demo-base-1.0",
    "sys-kernel/demo-kernel-6.1.0",
]


def test_index_lists_every_package_and_each_is_signed(demo_binhost: DemoBinhost) -> None:
    binhost = demo_binhost.snapshot / "binhost"
    index = read_index(binhost)
    assert index.cpvs() == EXPECTED
    on_disk = sorted(str(p.relative_to(binhost)) for p in binhost.rglob("*.gpkg.tar"))
    assert on_disk == sorted(e["PATH"] for e in index.entries)
    # Independently of provision's checker: each Manifest verifies with gpg and names our key.
    fpr = demo_binhost.key.fingerprint
    for rel in on_disk:
        with tarfile.open(binhost / rel) as tar:
            names = sorted(m.name.split("/", 1)[1] for m in tar.getmembers())
            fh = tar.extractfile(next(m for m in tar.getmembers() if m.name.endswith("/Manifest")))
            assert fh is not None
            manifest = fh.read()
        assert "image.tar.zst.sig" in names and "metadata.tar.zst.sig" in names
        res = run(
            gpg_argv(demo_binhost.key.verify_home, "--status-fd", "1", "--verify"), input=manifest
        )
        assert f"VALIDSIG {fpr}" in res.stdout
    assert check_binhost(binhost, demo_binhost.key.verify_home, fpr).cpvs() == EXPECTED
    status = json.loads(provision(demo_binhost.data_dir, "status", "--json").stdout)
    mine = next(s for s in status if s["profile"] == demo_binhost.profile)
    assert mine["state"] == "published"
    assert mine["packages"] == 4
    assert mine["path"] == str(demo_binhost.snapshot)
    assert mine["binhost_url"].endswith(f"/binhost/{demo_binhost.profile}")
    assert Path(mine["log"]).is_file()
    # the repository snapshot the packages were built from is part of the snapshot
    assert (demo_binhost.snapshot / "repo/provision-demo/app-misc/hello/hello-1.0.ebuild").is_file()


def test_client_installs_from_http_binhost_and_runs_binary(
    demo_binhost: DemoBinhost, tmp_path: Path
) -> None:
    with serve(demo_binhost.data_dir) as url, client_dir() as where:
        key = urllib.request.urlopen(f"{url}/key.asc", timeout=30).read().decode()
        exported = provision(demo_binhost.data_dir, "key", "--export").stdout
        assert key == exported and "BEGIN PGP PUBLIC KEY BLOCK" in key
        with urllib.request.urlopen(f"{url}/repo/{demo_binhost.profile}/snapshot.tar.gz") as r:
            assert r.headers["X-Provision-Snapshot"] == demo_binhost.snapshot.name
            with tarfile.open(fileobj=io.BytesIO(r.read())) as tar:
                assert "provision-demo/app-misc/hello/hello-1.0.ebuild" in tar.getnames()
        client = client_for(demo_binhost, where / "client", url)
        res = client.run(
            "emerge",
            ["--ask=n", "app-misc/hello", "app-admin/democonf"],
            log_path=tmp_path / "client.log",
        )
        assert res.returncode == 0
        log = (tmp_path / "client.log").read_text()
        assert ">>> Emerging binary (1 of" in log and ">>> Emerging (" not in log
        assert "app-misc/hello-1.0" in client.installed()
        out = run([where / "client/usr/bin/hello"]).stdout
    assert out.strip()


def _altered_copy(demo: DemoBinhost, dest: Path, how: str) -> Path:
    """A copy of the demo data dir whose hello package is altered after publication, with the
    index rewritten to match (as an attacker controlling the server would)."""
    shutil.copytree(demo.data_dir / "snapshots", dest / "snapshots", symlinks=True)
    shutil.copytree(demo.data_dir / "keys", dest / "keys", ignore=shutil.ignore_patterns("S.*"))
    binhost = dest / "snapshots" / demo.profile / demo.snapshot.name / "binhost"
    rel = next(e["PATH"] for e in read_index(binhost).entries if e["CPV"] == "app-misc/hello-1.0")
    pkg = binhost / rel
    members = []
    with tarfile.open(pkg) as tar:
        for m in tar.getmembers():
            fh = tar.extractfile(m)
            members.append((m, fh.read() if fh else b""))
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for m, data in members:
            base = m.name.split("/", 1)[1]
            if how == "unsigned" and (base.endswith(".sig") or base == "Manifest"):
                continue
            if how == "altered" and base == "image.tar.zst":
                data = data[:-8] + bytes(b ^ 0xFF for b in data[-8:])
            m.size = len(data)
            tar.addfile(m, io.BytesIO(data))
    pkg.write_bytes(out.getvalue())
    blob = pkg.read_bytes()
    text = (binhost / "Packages").read_text()
    entry_start = text.index(f"PATH: {rel}")
    head, stanza = (
        text[: text.rfind("\n\n", 0, entry_start)],
        text[text.rfind("\n\n", 0, entry_start) :],
    )
    end = stanza.find("\n\n", 2)
    body, tail = (stanza, "") if end < 0 else (stanza[:end], stanza[end:])
    lines = []
    for line in body.split("\n"):
        key = line.split(":", 1)[0]
        if key == "SIZE":
            line = f"SIZE: {len(blob)}"
        elif key == "SHA1":
            line = f"SHA1: {hashlib.sha1(blob).hexdigest()}"
        elif key == "MD5":
            line = f"MD5: {hashlib.md5(blob).hexdigest()}"
        lines.append(line)
    (binhost / "Packages").write_text(head + "\n".join(lines) + tail)
    (binhost / "Packages.gz").write_bytes(gzip.compress((binhost / "Packages").read_bytes()))
    return binhost


@pytest.mark.parametrize(
    ("how", "refusal"),
    [
        pytest.param("altered", "BAD signature", id="altered-image"),
        pytest.param("unsigned", "Manifest not found", id="signature-stripped"),
    ],
)
def test_altered_package_is_refused_by_client(
    demo_binhost: DemoBinhost, tmp_path: Path, how: str, refusal: str
) -> None:
    data = tmp_path / "data"
    binhost = _altered_copy(demo_binhost, data, how)
    # provision's own publication check refuses it too
    with pytest.raises(PublishError, match="hello"):
        check_binhost(binhost, demo_binhost.key.verify_home, demo_binhost.key.fingerprint)
    try:
        with serve(data) as url, client_dir() as where:
            client = client_for(demo_binhost, where / "client", url)
            res = client.run(
                "emerge", ["--ask=n", "app-misc/hello"], log_path=tmp_path / "c.log", check=False
            )
            assert res.returncode != 0
            assert "app-misc/hello-1.0" not in client.installed()
            assert not (where / "client/usr/bin/hello").exists()
    finally:
        stop_agents(DataLayout(data).keys)
    log = (tmp_path / "c.log").read_text()
    assert refusal in log, log[-3000:]
