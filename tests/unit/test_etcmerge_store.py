"""CONFIG_PROTECT rules, ._cfg scanning, shipped records from CONTENTS, archive and undo."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from provision.errors import NotFound
from provision.etcmerge import archive
from provision.etcmerge.record import (
    parse_contents,
    read_shipped,
    record_baseline,
    record_shipped,
)
from provision.etcmerge.scan import group, scan
from provision.etcmerge.target import Protect, Target, parse_assignments, parse_portageq

PROTECT = Protect(("/etc", "/usr/share/config/app.conf"), ("/etc/env.d", "/etc/gconf"))


@pytest.mark.parametrize(
    ("path", "covered"),
    [
        pytest.param("/etc/hosts", True, id="below"),
        pytest.param("/etc/env.d/50x", False, id="masked"),
        pytest.param("/etc/env.dx/a", True, id="mask-is-a-dir-not-a-prefix"),
        pytest.param("/etcx/a", False, id="protect-is-a-dir-not-a-prefix"),
        pytest.param("/usr/share/config/app.conf", True, id="single-file"),
        pytest.param("/usr/share/config/other.conf", False, id="not-listed"),
    ],
)
def test_protect_covers(path: str, covered: bool) -> None:
    assert PROTECT.covers(path) is covered


def test_deeper_protect_beats_shallower_mask() -> None:
    p = Protect(("/etc", "/etc/env.d/keep"), ("/etc/env.d",))
    assert p.covers("/etc/env.d/keep/x") and not p.covers("/etc/env.d/other")


def test_parse_portageq_and_fallback() -> None:
    out = "CONFIG_PROTECT=/etc /usr/share/gnupg/qualified.txt\nCONFIG_PROTECT_MASK=/etc/env.d\n"
    assert parse_portageq(out) == Protect(
        ("/etc", "/usr/share/gnupg/qualified.txt"), ("/etc/env.d",)
    )
    texts = [
        'CONFIG_PROTECT="/etc"\nCONFIG_PROTECT_MASK="/etc/env.d"\n',
        'CONFIG_PROTECT="${CONFIG_PROTECT} /var/lib/app -/etc"  # comment\n',
        "export CONFIG_PROTECT='/usr/share/config'\n"
        "export CONFIG_PROTECT_MASK='/etc/gentoo-release'\n",
    ]
    assert parse_assignments(texts) == Protect(
        ("/var/lib/app", "/usr/share/config"), ("/etc/env.d", "/etc/gentoo-release")
    )


def test_group_newest_last_and_masked_skipped() -> None:
    found = group(
        [
            ("/etc/app", "._cfg0001_a.conf"),
            ("/etc/app", "._cfg0000_a.conf"),
            ("/etc/app", "b.conf"),
            ("/etc/env.d", "._cfg0000_50x"),
            ("/etc", "._cfgXXXX_bad"),
        ],
        PROTECT,
    )
    assert [(p.tpath, p.cfg) for p in found] == [
        ("/etc/app/a.conf", ("/etc/app/._cfg0000_a.conf", "/etc/app/._cfg0001_a.conf"))
    ]
    assert found[0].newest == "/etc/app/._cfg0001_a.conf"


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_scan_walks_protected_dirs(tmp_path: Path) -> None:
    t = Target(tmp_path, "/pfx")
    _write(t.host("/etc/app/deep/._cfg0000_x.conf"), "new")
    _write(t.host("/etc/env.d/._cfg0000_50x"), "new")
    _write(t.host("/usr/share/config/._cfg0003_app.conf"), "new")
    _write(t.host("/usr/share/config/._cfg0000_other.conf"), "new")
    assert [(p.tpath, p.newest) for p in scan(t, PROTECT)] == [
        ("/etc/app/deep/x.conf", "/etc/app/deep/._cfg0000_x.conf"),
        ("/usr/share/config/app.conf", "/usr/share/config/._cfg0003_app.conf"),
    ]


def test_target_paths(tmp_path: Path) -> None:
    t = Target(tmp_path / "mnt", "/gentoo")
    assert t.eroot == tmp_path / "mnt/gentoo"
    assert t.host("/etc/hosts") == tmp_path / "mnt/gentoo/etc/hosts"
    assert t.tpath(tmp_path / "mnt/gentoo/etc/hosts") == "/etc/hosts"
    assert t.portage_env()["PORTAGE_CONFIGROOT"] == str(tmp_path / "mnt/gentoo")


def test_parse_contents_maps_root_and_prefix(tmp_path: Path) -> None:
    t = Target(Path("/mnt/gentoo"), "/opt/pfx")
    text = (
        "dir /opt/pfx/etc\n"
        "obj /opt/pfx/etc/with space.conf 0123abcd 1700000000\n"
        "sym /opt/pfx/etc/link -> target 1700000000\n"
        "obj /elsewhere/etc/x d41d 1700000000\n"
    )
    assert [(e.tpath, e.md5) for e in parse_contents(text, t)] == [
        ("/etc/with space.conf", "0123abcd")
    ]


def test_record_baseline_copies_only_files_as_shipped(tmp_path: Path) -> None:
    t = Target(tmp_path, "")
    shipped = "a = 1\n"
    md5 = hashlib.md5(shipped.encode()).hexdigest()
    for name in ("same.conf", "edited.conf", "pending.conf"):
        _write(t.host(f"/etc/app/{name}"), shipped)
    _write(t.host("/etc/app/edited.conf"), "a = 2\n")
    _write(t.host("/etc/app/._cfg0000_pending.conf"), "a = 3\n")
    _write(t.host("/etc/env.d/masked"), shipped)
    lines = [f"obj /etc/app/{n} {md5} 1" for n in ("same.conf", "edited.conf", "pending.conf")]
    lines.append(f"obj /etc/env.d/masked {md5} 1")
    _write(t.host("/var/db/pkg/app-misc/app-1/CONTENTS"), "\n".join(lines) + "\n")
    result = record_baseline(t, PROTECT)
    assert result.recorded == ["/etc/app/same.conf"]
    assert result.modified == ["/etc/app/edited.conf"]
    assert result.pending == ["/etc/app/pending.conf"]
    assert read_shipped(t, "/etc/app/same.conf") == shipped
    assert read_shipped(t, "/etc/app/edited.conf") is None
    assert read_shipped(t, "/etc/env.d/masked") is None
    st = (t.state / "etc-shipped/etc/app/same.conf").stat()
    assert st.st_mode & 0o777 == 0o600


def test_archive_rotates_and_undo_walks_back(tmp_path: Path) -> None:
    t = Target(tmp_path, "")
    conf = _write(t.host("/etc/app.conf"), "v0\n")
    os.chmod(conf, 0o640)
    for i in range(1, 8):
        archive.archive(t, "/etc/app.conf", keep=3)
        conf.write_text(f"v{i}\n")
    kept = archive.entries(t, "/etc/app.conf")
    assert [p.name for p in kept] == ["000005", "000006", "000007"]
    assert [p.read_text() for p in kept] == ["v4\n", "v5\n", "v6\n"]
    archive.restore(t, "/etc/app.conf")
    assert conf.read_text() == "v6\n" and conf.stat().st_mode & 0o777 == 0o640
    assert (archive.archive_dir(t, "/etc/app.conf") / "undone").read_text() == "v7\n"
    archive.restore(t, "/etc/app.conf")
    assert conf.read_text() == "v5\n"
    assert [p.name for p in archive.entries(t, "/etc/app.conf")] == ["000005"]


def test_undo_without_archive_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="nothing archived"):
        archive.restore(Target(tmp_path, ""), "/etc/nothing.conf")


def test_record_shipped_overwrites(tmp_path: Path) -> None:
    t = Target(tmp_path, "")
    record_shipped(t, "/etc/a", "1")
    record_shipped(t, "/etc/a", "2")
    assert read_shipped(t, "/etc/a") == "2"
