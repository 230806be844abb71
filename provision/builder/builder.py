"""The per-profile builder: preflight, the state machine around a pass, publication, forever.

One pass: idle/published/held(+trigger) -> syncing -> building -> publishing -> published, or
-> held (the previous snapshot stays current; the log stays; a trigger resumes, and Portage's
--usepkg plus the build root's installed packages mean nothing built before is built again).
"""

from __future__ import annotations

import fcntl
import logging
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from provision.builder.dedup import kernel_exclusions, siblings
from provision.builder.executor import Executor, InProcessExecutor
from provision.builder.job import PassJob, PassResult
from provision.builder.plan import new_pass_id
from provision.builder.roots import make_root
from provision.builder.settings import BuildSettings, RootKind, RootSpec
from provision.builder.state import Phase, ProfileState, load_state, save_state
from provision.builder.sync import check_repositories
from provision.errors import BuildError, ProvisionError, PublishError
from provision.profiles import ProfileSet
from provision.profiles.model import Profile
from provision.signing import KeyInfo, ensure_key
from provision.snapshots.index import read_index
from provision.snapshots.layout import DataLayout
from provision.snapshots.publish import cleanup_incoming, publish
from provision.snapshots.read import current_index, current_snapshot, read_meta
from provision.snapshots.stage import publish_install_stage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Planned:
    profile: Profile
    root: RootSpec


@contextmanager
def profile_lock(layout: DataLayout, profile: str) -> Iterator[None]:
    path = layout.lock_file(profile)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BuildError(f"{profile}: another builder is running a pass ({path})") from None
        yield


class Builder:
    def __init__(
        self,
        data_dir: Path,
        profiles: ProfileSet,
        settings: BuildSettings,
        executor: Executor | None = None,
    ) -> None:
        self.layout = DataLayout(data_dir)
        self.profiles = profiles
        self.settings = settings
        self.executor = executor or InProcessExecutor()

    # -- preflight: bad input fails here, before any state or file changes ---------------------
    def preflight(self, names: list[str]) -> tuple[list[Planned], KeyInfo]:
        planned = []
        for name in names or self.profiles.names():
            profile = self.profiles.get(name)  # NotFound for an unknown profile
            check_repositories(profile)
            spec = self.settings.root_for(name)
            make_root(spec).check()
            planned.append(Planned(profile, spec))
        key = ensure_key(self.layout.keys)
        if any(p.profile.secure_boot for p in planned):
            from provision.secureboot.key import ensure as ensure_secureboot_key

            ensure_secureboot_key(self.layout.keys)  # made on first use, like the package key
        return planned, key

    # -- state ----------------------------------------------------------------------------------
    def state(self, profile: str) -> ProfileState:
        return load_state(self.layout.state_file(profile), profile)

    def _save(self, state: ProfileState) -> ProfileState:
        save_state(self.layout.state_file(state.profile), state)
        return state

    def triggered(self, profile: str) -> bool:
        return self.layout.trigger_file(profile).exists()

    def due(self, profile: str, now: float) -> bool:
        st = self.state(profile).recovered()
        if self.triggered(profile):
            return True
        if st.phase == Phase.HELD:
            return False
        if st.phase == Phase.IDLE:
            return True
        return now >= st.updated + self.settings.sync_interval

    # -- one pass -------------------------------------------------------------------------------
    def run_pass(self, plan: Planned, key: KeyInfo) -> ProfileState:
        name = plan.profile.name
        with profile_lock(self.layout, name):
            st = self.state(name).recovered()
            if st.phase == Phase.HELD and not self.triggered(name):
                return st
            self.layout.trigger_file(name).unlink(missing_ok=True)
            cleanup_incoming(self.layout, name)
            shutil.rmtree(self.layout.repos(name), ignore_errors=True)
            pass_id = new_pass_id()
            logfile = str(self.layout.logs(name) / f"{pass_id}.log")
            st = self._save(st.to(Phase.SYNCING, pass_id=pass_id, error="", advice="", log=logfile))
            cur = current_snapshot(self.layout.data_dir, name)
            job = PassJob(
                plan.profile,
                pass_id,
                self.layout.data_dir,
                plan.root,
                key,
                self.settings.jobs,
                cur / "repo" if cur else None,
                *self._seed_sources(plan),
                self.settings.distcc_hosts,
                cur,
                images=self.settings.images,
                distfiles=self.settings.distfiles,
            )

            def report(phase: Phase) -> None:
                nonlocal st
                if phase != st.phase:
                    st = self._save(st.to(phase))

            try:
                result = self.executor.run(job, report)
            except ProvisionError as exc:
                return self._save(st.to(Phase.HELD, error=str(exc)))
            if result.pass_id != pass_id:  # the executor resumed a pass of an earlier run
                st = self._save(st.to(st.phase, pass_id=result.pass_id, log=str(result.log)))
            if not result.ok:
                shutil.rmtree(result.repo_dir, ignore_errors=True)
                return self._save(
                    st.to(
                        Phase.HELD,
                        error=result.error,
                        advice=result.advice,
                        built=result.built,
                        reused=result.reused,
                    )
                )
            st = self._save(st.to(Phase.PUBLISHING, built=result.built, reused=result.reused))
            try:
                self._check_abi(plan.profile, result.staging or self.layout.pkgdir(name))
                snapshot = self._publish(name, result, key, plan.root)
                if plan.root.kind is RootKind.STAGE and plan.root.stage is not None:
                    # machines of a stage-root profile install from the same stage
                    publish_install_stage(self.layout, name, plan.root.stage, key)
            except ProvisionError as exc:
                shutil.rmtree(result.repo_dir, ignore_errors=True)
                if result.image is not None:
                    shutil.rmtree(result.image, ignore_errors=True)
                return self._save(st.to(Phase.HELD, error=f"publication refused: {exc}"))
            return self._save(st.to(Phase.PUBLISHED, snapshot=snapshot))

    def _seed_sources(self, plan: Planned) -> tuple[tuple[Path, ...], tuple[str, ...]]:
        """Staging PKGDIRs of the profiles that would build packages exactly as this one, and
        the packages not to take from them."""
        others = [(self.profiles.get(n), self.settings.root_for(n)) for n in self.profiles.names()]
        names = siblings(plan.profile, others, plan.root)
        dirs = tuple(self.layout.pkgdir(n) for n in names)  # seed() skips missing ones
        exclude = kernel_exclusions(plan.profile, [self.profiles.get(n) for n in names])
        return dirs, exclude

    def _check_abi(self, profile: Profile, staging: Path) -> None:
        """Refuse packages whose ELF files need a newer kernel than the profile targets."""
        if not profile.kernel.min_version:
            return
        from provision.portage.elfabi import check_packages, parse_version  # pyelftools: here

        published = {e.get("PATH", "") for e in current_index(self.layout, profile.name).entries}
        new = [
            staging / e["PATH"]
            for e in read_index(staging).entries
            if e.get("PATH") and e["PATH"] not in published
        ]
        minimum = parse_version(profile.kernel.min_version)
        violations = check_packages(new, minimum)
        if violations:
            first = violations[0].describe(minimum)
            more = f" (and {len(violations) - 1} more)" if len(violations) > 1 else ""
            raise PublishError(f"kernel ABI check: {first}{more}")

    def _publish(self, name: str, result: PassResult, key: KeyInfo, root: RootSpec) -> str:
        """Publish unless nothing changed (same repository, same packages): then keep current."""
        cur = current_snapshot(self.layout.data_dir, name)
        staging = result.staging or self.layout.pkgdir(name)
        if cur is not None:
            meta = read_meta(cur)
            same_repo = meta.get("repo_digest") == result.repo_digest
            same_pkgs = (
                current_index(self.layout, name).identity() == read_index(staging).identity()
            )
            if same_repo and same_pkgs and result.image is None:
                shutil.rmtree(result.repo_dir, ignore_errors=True)
                return cur.name
        final = publish(
            self.layout,
            name,
            result.pass_id,
            staging,
            result.repo_dir,
            key,
            {
                "repo_digest": result.repo_digest,
                "log": str(result.log),
                # where the packages' files live: "" (a stage root) suits any normal root;
                # a prefix root's packages (and image) hold its EPREFIX
                "root": root.kind,
                "eprefix": "" if root.kind is RootKind.STAGE else str(self.layout.root(name)),
                **result.meta,  # a remote executor's: who built it, in which EPREFIX
            },
            self.settings.keep,
            result.image or (cur / "image" if cur and (cur / "image").is_dir() else None),
        )
        return final.name

    def build(self, names: list[str]) -> list[ProfileState]:
        planned, key = self.preflight(names)
        return [self.run_pass(p, key) for p in planned]

    # -- forever --------------------------------------------------------------------------------
    def forever(
        self,
        names: list[str],
        *,
        poll: float = 0.5,
        max_passes: int | None = None,
        parallel: bool = False,
        stop: threading.Event | None = None,
    ) -> None:
        """Run due passes; wait for the sync interval or a trigger.  max_passes bounds tests.

        parallel: one loop per profile, so passes of different profiles run at the same time
        (an executor that runs them elsewhere: the build farm); each profile's passes stay one
        at a time (the profile lock)."""
        planned, key = self.preflight(names)
        if parallel:
            self._forever_parallel(planned, key, poll, stop or threading.Event())
            return
        passes = 0
        while max_passes is None or passes < max_passes:
            ran = False
            for plan in planned:
                if self.due(plan.profile.name, time.time()):
                    st = self.run_pass(plan, key)
                    log.info("%s: %s %s", st.profile, st.phase, st.error)
                    passes += 1
                    ran = True
                    if max_passes is not None and passes >= max_passes:
                        return
            if not ran:
                time.sleep(poll)

    def _forever_parallel(
        self, planned: list[Planned], key: KeyInfo, poll: float, stop: threading.Event
    ) -> None:
        def loop(plan: Planned) -> None:
            while not stop.is_set():
                try:
                    if self.due(plan.profile.name, time.time()):
                        st = self.run_pass(plan, key)
                        log.info("%s: %s %s", st.profile, st.phase, st.error)
                        continue
                except ProvisionError as exc:  # another builder holds the lock, a bad state
                    log.error("%s: %s", plan.profile.name, exc)
                stop.wait(poll)

        threads = [
            threading.Thread(target=loop, args=(p,), name=f"pass-{p.profile.name}", daemon=True)
            for p in planned
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
