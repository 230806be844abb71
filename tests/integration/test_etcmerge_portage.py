"""etc-merge against real Portage: democonf v1 installs files under /etc, the admin edits some,
v2 changes some, emerge leaves ._cfg files, and `provision etc-merge` settles them.

The demo repository is copied into tmp_path and democonf-1.1/2.0 are added to the copy only.
The prefix runs with FEATURES=-config-protect-if-modified, so Portage hands every changed
protected file to etc-merge (with Portage's default it replaces untouched files itself).
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import pexpect

from provision.etcmerge.archive import entries
from provision.etcmerge.record import read_shipped
from provision.etcmerge.target import Target
from provision.portage.prefix import Prefix
from provision.portage.render import BuildContext, render_all, render_repos_conf
from provision.profiles import ProfileSet
from provision.run import Result, run
from tests.conftest import DEMO_REPO

V1_HEADER = "# $Header: /var/cvsroot/democonf/header.conf,v 1.1 2001/01/01 $\n"
V2_HEADER = "# $Header: /var/cvsroot/democonf/header.conf,v 1.2 2002/02/02 $\n"
LINES = "".join(f"key{i} = {i}\n" for i in range(1, 9))


@dataclass(frozen=True)
class Case:
    name: str
    v1: str
    admin: str | None  # the admin's edit, None = untouched
    v2: str
    final: str  # expected on disk after etc-merge --non-interactive
    code: str  # expected decision code ("" = Portage leaves no ._cfg)
    pending: bool = False  # left for a person: the ._cfg stays


CASES = [
    Case("untouched.conf", "port = 1\n", None, "port = 2\n", "port = 2\n", "untouched"),
    Case(
        "admin-only.conf",
        "port = 1\n",
        "port = 9\n",
        "port = 1\n",
        "port = 9\n",
        "package-unchanged",
    ),
    Case("neither.conf", "port = 1\n", None, "port = 1\n", "port = 1\n", ""),
    Case(
        "both-clean.conf",
        LINES,
        LINES.replace("key1 = 1", "key1 = 100"),
        LINES.replace("key8 = 8", "key8 = 800"),
        LINES.replace("key1 = 1", "key1 = 100").replace("key8 = 8", "key8 = 800"),
        "merged",
    ),
    Case(
        "conflict.conf",
        LINES,
        LINES.replace("key4 = 4", "key4 = admin"),
        LINES.replace("key4 = 4", "key4 = package"),
        LINES.replace("key4 = 4", "key4 = admin"),
        "conflict",
        pending=True,
    ),
    Case(
        "comment-only.conf",
        "# democonf\nport = 1\n",
        "# democonf\nport = 9\n",
        "# democonf 2.0: now with a longer comment\n\nport   =   1\n",
        "# democonf\nport = 9\n",
        "package-comments-only",
    ),
    Case(
        "header.conf",
        V1_HEADER + "port = 1\n",
        V1_HEADER + "port = 9\n",
        V2_HEADER + "port = 1\n",
        V1_HEADER + "port = 9\n",
        "package-unchanged",
    ),
    Case("frozen.conf", "port = 1\n", "port = 9\n", "port = 2\n", "port = 9\n", "frozen"),
    Case(
        "ask-ssh.conf",
        "PermitRootLogin no\n",
        None,
        "PermitRootLogin prohibit-password\n",
        "PermitRootLogin no\n",
        "policy-ask",
        pending=True,
    ),
]
POLICY = """\
[etc_merge]
default = "merge"
frozen = ["/etc/democonf/frozen.conf"]

[[etc_merge.rules]]
path = "/etc/democonf/ask-*"
action = "ask"
"""
EBUILD = """\
EAPI=8
DESCRIPTION="Demo config files (etc-merge test variant)"
HOMEPAGE="https://example.invalid/provision"
LICENSE="GPL-2"
SLOT="0"
KEYWORDS="amd64"
S="${WORKDIR}"

src_install() {
\tinsinto /etc/democonf
\tdoins "${FILESDIR}"/${PV}/*
}
"""


@dataclass
class World:
    tmp: Path
    prefix: Prefix
    target: Target
    policy: Path

    def conf(self, name: str) -> Path:
        return self.prefix.root / "etc/democonf" / name

    def emerge(self, atom: str) -> None:
        self.prefix.run("emerge", ["--ask=n", atom], log_path=self.tmp / "emerge.log")

    def etc_merge(self, *args: str) -> Result:
        argv = [sys.executable, "-m", "provision", "etc-merge", *self.target_args(), *args]
        return run(argv, check=False, timeout=300)

    def target_args(self) -> list[str]:
        return ["--root", "/", "--eprefix", str(self.prefix.root), "--policy", str(self.policy)]


def make_world(tmp: Path, cases: list[Case]) -> World:
    """A prefix on a copy of the demo repository with democonf-1.1 and -2.0 made from cases."""
    repo = tmp / "repo"
    shutil.copytree(DEMO_REPO, repo)
    pkg = repo / "app-admin/democonf"
    for version in ("1.1", "2.0"):
        (pkg / f"democonf-{version}.ebuild").write_text(EBUILD)
        for case in cases:
            f = pkg / "files" / version / case.name
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text(case.v1 if version == "1.1" else case.v2)
    profiles = tmp / "profiles"
    profiles.mkdir()
    (profiles / "etcmerge.toml").write_text(
        '[portage]\nprofile = "default/linux/amd64/23.0"\n'
        'features = ["-config-protect-if-modified"]\n'
        f'[[repositories]]\nname = "provision-demo"\nlocation = "{repo}"\n\n{POLICY}'
    )
    profile = ProfileSet(profiles).get("etcmerge")
    ctx = BuildContext(
        pkgdir=str(tmp / "pkgs"),
        distdir=str(tmp / "dist"),
        tmpdir=str(tmp / "tmp"),
        unprivileged=True,
    )
    (tmp / "tmp").mkdir()
    prefix = Prefix(tmp / "prefix")
    prefix.create(
        repos_conf=render_repos_conf(profile),
        portage_profile=repo / "profiles" / profile.portage.profile,
        files=render_all(profile, ctx),
    )
    return World(tmp, prefix, Target(Path("/"), str(prefix.root)), profiles / "etcmerge.toml")


def updated_world(tmp: Path, cases: list[Case]) -> World:
    """v1 installed and recorded, the admin's edits made, v2 emerged (._cfg files waiting)."""
    w = make_world(tmp, cases)
    w.emerge("=app-admin/democonf-1.1")
    out = w.etc_merge("--record-baseline")
    assert out.returncode == 0, out.stderr
    assert f"recorded {len(cases)} protected files" in out.stdout
    for case in cases:
        if case.admin is not None:
            w.conf(case.name).write_text(case.admin)
    w.emerge("=app-admin/democonf-2.0")
    return w


def cfg_files(w: World) -> list[str]:
    return sorted(p.name for p in (w.prefix.root / "etc/democonf").glob("._cfg*"))


def test_policy_settles_every_case_and_undo_restores(tmp_path: Path) -> None:
    w = updated_world(tmp_path, CASES)
    # Portage itself left a ._cfg for every file whose on-disk text differs from v2.
    expected_cfg = sorted(f"._cfg0000_{c.name}" for c in CASES if c.code)
    assert cfg_files(w) == expected_cfg
    before = {c.name: w.conf(c.name).read_text() for c in CASES}

    report_file = tmp_path / "report.json"
    out = w.etc_merge("--non-interactive", "--report", str(report_file))
    assert out.returncode == 1, out.stderr  # 1: some files still need a person
    report = json.loads(out.stdout)
    assert report == json.loads(report_file.read_text())
    codes = {Path(f["path"]).name: f["code"] for f in report["files"]}
    assert codes == {c.name: c.code for c in CASES if c.code}
    for case in CASES:
        assert w.conf(case.name).read_text() == case.final, case.name
    assert sorted(Path(p).name for p in report["pending"]) == sorted(
        c.name for c in CASES if c.pending
    )
    assert cfg_files(w) == sorted(f"._cfg0000_{c.name}" for c in CASES if c.pending)
    conflict = next(f for f in report["files"] if f["code"] == "conflict")
    assert conflict["conflicts"] == 1 and "merge has 1 conflict" in conflict["reason"]

    # the last shipped record follows every settled file; pending ones keep v1 as their base
    for case in CASES:
        expected = case.v1 if case.pending else case.v2
        assert read_shipped(w.target, f"/etc/democonf/{case.name}") == expected, case.name

    # every replaced file was archived and comes back with --undo
    replaced = [f for f in report["files"] if f["archived"]]
    assert sorted(Path(f["path"]).name for f in replaced) == ["both-clean.conf", "untouched.conf"]
    for f in replaced:
        name = Path(f["path"]).name
        undo = w.etc_merge("--undo", f["path"])
        assert undo.returncode == 0, undo.stderr
        assert w.conf(name).read_text() == before[name]
        assert entries(w.target, f["path"]) == []
    again = w.etc_merge("--undo", "/etc/democonf/untouched.conf")
    assert again.returncode == 2 and "nothing archived" in again.stderr


def test_untouched_system_updates_with_zero_questions(tmp_path: Path) -> None:
    cases = [c for c in CASES if c.admin is None and c.code != "policy-ask"]
    w = updated_world(tmp_path, cases)
    assert cfg_files(w) == ["._cfg0000_untouched.conf"]
    out = w.etc_merge("--non-interactive")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["pending"] == [] and report["settled"] == 1
    assert cfg_files(w) == []
    for case in cases:
        assert w.conf(case.name).read_text() == case.v2


def test_guided_mode_through_a_real_terminal(tmp_path: Path) -> None:
    cases = [c for c in CASES if c.name in ("conflict.conf", "ask-ssh.conf", "untouched.conf")]
    w = updated_world(tmp_path, cases)
    editor = tmp_path / "editor.py"
    resolved = LINES.replace("key4 = 4", "key4 = both")
    editor.write_text(f"import sys\nopen(sys.argv[1], 'w').write({resolved!r})\n")
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "EDITOR": f"{sys.executable} {editor}",
        "TERM": "dumb",
        "LC_ALL": "C.UTF-8",
    }
    argv = ["-m", "provision", "etc-merge", *w.target_args(), "--guided"]
    child = pexpect.spawn(sys.executable, argv, env=env, encoding="utf-8", timeout=120)
    child.logfile_read = open(tmp_path / "terminal.log", "w")  # noqa: SIM115 (closed below)
    try:
        child.expect("untouched.conf: take-new")
        # ask-ssh.conf comes first (sorted): the policy asks although the admin never edited it
        child.expect(r"==> /etc/democonf/ask-ssh.conf  \[1/2\]")
        child.expect(
            "why: you never changed this file and the package ships a new version, "
            "and the policy asks before changing this file"
        )
        child.expect(r"\+PermitRootLogin prohibit-password")
        child.expect(r"\? ")
        child.sendline("k")
        child.expect("ask-ssh.conf: you kept your version")
        child.expect(r"==> /etc/democonf/conflict.conf  \[2/2\]")
        child.expect("merge has 1 conflict")
        child.expect("<<<<<<< /etc/democonf/conflict.conf \\(yours\\)")
        child.expect(r"\[t\]ake new  \[k\]eep yours  \[e\]dit  \[s\]kip  \[q\]uit \? ")
        child.sendline("e")
        child.expect("conflict.conf: you edited the result")
        child.expect("3 settled, nothing left")
        child.expect(pexpect.EOF)
    finally:
        child.close()
        child.logfile_read.close()
    assert child.exitstatus == 0
    assert w.conf("conflict.conf").read_text() == resolved
    assert w.conf("ask-ssh.conf").read_text() == "PermitRootLogin no\n"
    assert w.conf("untouched.conf").read_text() == "port = 2\n"
    assert cfg_files(w) == []


def test_dry_run_changes_nothing(tmp_path: Path) -> None:
    cases = [c for c in CASES if c.name in ("untouched.conf", "both-clean.conf")]
    w = updated_world(tmp_path, cases)
    state = w.target.state
    before = {p: p.read_bytes() for p in [*w.conf("").iterdir(), *state.rglob("*")] if p.is_file()}
    out = w.etc_merge("--non-interactive", "--dry-run")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["dry_run"] is True
    assert sorted(f["code"] for f in report["files"]) == ["merged", "untouched"]
    assert not any(f["applied"] for f in report["files"])
    after = {p: p.read_bytes() for p in [*w.conf("").iterdir(), *state.rglob("*")] if p.is_file()}
    assert after == before
