"""`emerge --getbinpkgonly` of @system and the profile's set, run by the target's own Portage
(chroot into the target, as a Gentoo install does): zero source builds; a package that is not
in the binhost fails the step with its name."""

from __future__ import annotations

import re
import shlex

from provision.errors import CommandError, InstallError
from provision.fsutil import write_atomic
from provision.install.context import InstallContext
from provision.install.probe import mounted_at
from provision.run import tail_of

NAME = "packages"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def targets(ctx: InstallContext) -> list[str]:
    return ["@system", *ctx.config.profile.packages]


def emerge_argv(atoms: list[str]) -> list[str]:
    """emerge as run inside the target (pure)."""
    return [
        "emerge",
        "--ask=n",
        "--quiet-build=y",
        "--getbinpkgonly",
        "--usepkgonly",
        "--with-bdeps=n",
        "--noreplace",
        *atoms,
    ]


def chroot_argv(target: str, argv: list[str]) -> list[str]:
    return ["chroot", target, *argv]


FETCH_HELPER = "/var/tmp/provision-fetch.py"
FETCH_SCRIPT = """\
# provision: Portage's FETCHCOMMAND for a target without wget or curl (removed afterwards).
import shutil
import sys
import urllib.request

with urllib.request.urlopen(sys.argv[1], timeout=120) as resp, open(sys.argv[2], "wb") as out:
    shutil.copyfileobj(resp, out)
"""


def fetch_env(has_wget: bool, has_curl: bool) -> dict[str, str]:
    """FETCHCOMMAND/RESUMECOMMAND for what the target has (Portage's default needs wget)."""
    if has_wget:
        return {}
    if has_curl:
        cmd = 'curl --fail --silent --show-error --location -o "${DISTDIR}/${FILE}" "${URI}"'
    else:
        cmd = f'python3 {FETCH_HELPER} "${{URI}}" "${{DISTDIR}}/${{FILE}}"'
    return {"FETCHCOMMAND": cmd, "RESUMECOMMAND": cmd}


def _has(ctx: InstallContext, tool: str) -> bool:
    return any(ctx.path(f"{d}/{tool}").exists() for d in PATH.split(":"))


def emerge_env(ctx: InstallContext) -> dict[str, str]:
    """The whole environment emerge gets (nothing leaks in from the installer's)."""
    repos = ctx.path("/etc/portage/repos.conf/provision.conf")
    return {
        **fetch_env(_has(ctx, "wget"), _has(ctx, "curl")),
        "PATH": PATH,
        "HOME": "/root",
        "TERM": "dumb",
        "LC_ALL": "C.UTF-8",
        "NOCOLOR": "true",
        "PORTAGE_OVERRIDE_EPREFIX": "",  # a normal root, whatever the Portage install
        "PORTAGE_TRUST_HELPER": "",
        "PORTAGE_REPOSITORIES": repos.read_text() if repos.is_file() else "",
        **ctx.portage_env,
    }


def bind_argv(ctx: InstallContext) -> list[tuple[str, list[str]]]:
    """(mountpoint inside the target, mount argv) for what emerge needs in the chroot."""
    return [
        ("/proc", ["mount", "-t", "proc", "proc", str(ctx.path("/proc"))]),
        ("/dev", ["mount", "--bind", "/dev", str(ctx.path("/dev"))]),
    ]


def missing_binaries(log: str) -> list[str]:
    """Atoms emerge could not find as binary packages (from its output)."""
    pattern = r'there are no (?:binary )?(?:packages|ebuilds) to satisfy "([^"]+)"'
    return sorted(set(re.findall(pattern, log)))


def describe(ctx: InstallContext) -> list[str]:
    out = [shlex.join(a) for _, a in bind_argv(ctx)]
    argv = chroot_argv(str(ctx.target), emerge_argv(targets(ctx)))
    return [*out, f"env -i PORTAGE_OVERRIDE_EPREFIX= ... {shlex.join(argv)}"]


def run_emerge(ctx: InstallContext, atoms: list[str]) -> None:
    for where, argv in bind_argv(ctx):
        ctx.path(where).mkdir(parents=True, exist_ok=True)
        if not mounted_at(ctx.path(where)):
            ctx.sh(argv)
    env = emerge_env(ctx)
    helper = ctx.path(FETCH_HELPER)
    if FETCH_HELPER in env.get("FETCHCOMMAND", ""):
        write_atomic(helper, FETCH_SCRIPT)
    try:
        ctx.sh(chroot_argv(str(ctx.target), emerge_argv(atoms)), env=env)
    except CommandError as exc:
        log = tail_of(ctx.log_path, 32768)
        missing = missing_binaries(log)
        if missing:
            raise InstallError(
                f"not in the binhost (no source builds): {', '.join(missing)}"
            ) from exc
        raise InstallError(f"emerge failed: {exc}") from exc
    finally:
        helper.unlink(missing_ok=True)


def apply(ctx: InstallContext) -> None:
    run_emerge(ctx, targets(ctx))
