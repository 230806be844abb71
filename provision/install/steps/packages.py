"""`emerge --getbinpkgonly`, run by the target's own Portage (chroot into the target, as a
Gentoo install does): zero source builds; a package that is not in the binhost fails the step
with its name.

Two roles (issue 12): when the `image` step installed the profile's system image, only what
the host asks for beyond the image is emerged on top (the host's extra packages, a profile
package missing from the image's world set); without an image this is the fallback that
installs @system and the profile's set per package."""

from __future__ import annotations

import re
import shlex

from provision.errors import CommandError, InstallError
from provision.fsutil import write_atomic
from provision.install.context import InstallContext
from provision.install.probe import mounted_at
from provision.install.steps import image
from provision.portage.render import render_world
from provision.run import tail_of

NAME = "packages"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


WORLD = "var/lib/portage/world"


def requested(ctx: InstallContext) -> list[str]:
    """@system, the profile's set and the host's extra packages, in order, without repeats."""
    wanted = ["@system", *ctx.config.profile.packages, *ctx.config.settings.packages]
    return list(dict.fromkeys(wanted))


def beyond_image(wanted: list[str], world: str) -> list[str]:
    """What the image does not hold (pure): @system and the atoms of its world set are in it."""
    have = {ln.strip() for ln in world.splitlines() if ln.strip() and not ln.startswith("#")}
    return [a for a in wanted if a != "@system" and a not in have]


def targets(ctx: InstallContext) -> list[str]:
    if image.installed(ctx.target) is None:
        return requested(ctx)
    world = ctx.path(WORLD)
    return beyond_image(requested(ctx), world.read_text() if world.is_file() else "")


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
    try:
        by_image = image.choice_of(ctx).available
    except InstallError:
        by_image = False
    if by_image:
        extra = beyond_image(requested(ctx), "\n".join(ctx.config.profile.packages))
        argv = chroot_argv(str(ctx.target), emerge_argv(extra or ["ATOM..."]))
        head = "on top of the image: what the host asks for beyond it"
        if not extra:
            argv = chroot_argv(str(ctx.target), ["env-update"])
        return [f"{head} (now: {' '.join(extra) or 'nothing'})", *out, shlex.join(argv)]
    argv = chroot_argv(str(ctx.target), emerge_argv(requested(ctx)))
    return [
        "per package (no system image)",
        *out,
        f"env -i PORTAGE_OVERRIDE_EPREFIX= ... {shlex.join(argv)}",
    ]


def mount_binds(ctx: InstallContext) -> None:
    for where, argv in bind_argv(ctx):
        ctx.path(where).mkdir(parents=True, exist_ok=True)
        if not mounted_at(ctx.path(where)):
            ctx.sh(argv)


def env_update(ctx: InstallContext) -> None:
    """What Portage runs after every merge (/etc/profile.env, ld.so.conf, ldconfig) over the
    target's whole /etc/env.d: the image was made in a root without the stage's part of it."""
    mount_binds(ctx)
    ctx.sh(chroot_argv(str(ctx.target), ["env-update"]), env=emerge_env(ctx))


def run_emerge(ctx: InstallContext, atoms: list[str]) -> None:
    mount_binds(ctx)
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
    atoms = targets(ctx)
    if not atoms:
        ctx.note("packages: the system image holds everything asked for; nothing to emerge")
        env_update(ctx)
        return
    if image.installed(ctx.target) is not None:
        ctx.events.emit("log", NAME, f"emerging on top of the image: {' '.join(atoms)}")
    else:  # the world set the image would have had (the builder writes it the same way)
        world = ctx.path(WORLD)
        have = world.read_text() if world.is_file() else ""
        write_atomic(world, merged_world(have, render_world(ctx.config.profile)))
    run_emerge(ctx, atoms)


def merged_world(have: str, profile_world: str) -> str:
    """The target's world file with the profile's set added (pure, sorted, no repeats)."""
    lines = {ln.strip() for ln in (have + "\n" + profile_world).splitlines() if ln.strip()}
    return "".join(f"{ln}\n" for ln in sorted(lines))
