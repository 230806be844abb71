"""Making ordered images and telling the customer: the order worker.

- tarball: when the profile has a current system image (issue 12) that installs into a normal
  root, that image with its signed manifest and the server's public key (a root file system
  for containers and chroots, verifiable offline); otherwise an install bundle — the client's
  Portage config (make.conf, binrepos.conf, package.use, world), the profile itself, a stamped
  provision.conf (server URL, profile) and, when the profile has a published snapshot, that
  snapshot (binhost + repo).
- iso: made by the ISO maker (provision.iso); `make_iso` is the one adapter to it.

The worker thread takes queued orders one at a time, updates their progress, sends a mail when
an image is ready and sweeps expired images.  Nothing starts at import: `provision serve`
constructs and starts it.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import re
import smtplib
import tarfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from email.message import EmailMessage
from pathlib import Path

from provision.errors import ConfigError, ProvisionError
from provision.fsutil import atomic_output
from provision.image.pack import IMAGE_NAME, ImageFiles, files_in
from provision.names import EmailAddress, ProfileName
from provision.portage.render import (
    render_accept_keywords,
    render_binrepos_conf,
    render_client_make_conf,
    render_package_use,
    render_world,
)
from provision.profiles import ProfileSet
from provision.profiles.model import Profile
from provision.server.orders import Order, OrderConfig, OrderQueue, sweep

log = logging.getLogger(__name__)

_URL_RE = re.compile(r"https?://[A-Za-z0-9._~:/?#\[\]@!&'()*+,;=%-]+\Z")
PRIVATE = 0o600  # ordered images are fetched through the server only (by token)
Progress = Callable[[float], None]
Maker = Callable[[Order, Path, Progress], Path]


class ImageError(ProvisionError):
    """An ordered image could not be made."""


def images_dir(data_dir: Path) -> Path:
    return data_dir / "images"


def stamped_config(base_url: str, profile: str) -> str:
    """Pure: the small config stamped into an image (server URL and profile)."""
    if not _URL_RE.match(base_url):
        raise ConfigError("base_url", f"{base_url!r} is not an http(s) URL (no blanks, quotes)")
    return f"server = {base_url.rstrip('/')}\nprofile = {ProfileName(profile)}\n"


def bundle_files(profile: Profile, base_url: str) -> dict[str, str]:
    """Pure: the text files of an install bundle, by path inside the tarball."""
    uri = f"{base_url.rstrip('/')}/binhost/{profile.name}"
    files = {
        "provision.conf": stamped_config(base_url, profile.name),
        "etc/portage/make.conf": render_client_make_conf(profile, verify_home="/etc/portage/gnupg"),
        "etc/portage/binrepos.conf/provision.conf": render_binrepos_conf("provision", uri),
        "etc/portage/package.use/provision": render_package_use(profile),
        "etc/portage/package.accept_keywords/provision": render_accept_keywords(profile),
        "var/lib/portage/world": render_world(profile),
    }
    return files


def make_tarball(
    profile: Profile,
    base_url: str,
    snapshot: Path | None,
    out: Path,
    progress: Progress,
) -> Path:
    """Write the install bundle to `out` (.tar.gz), atomically (temp name, then rename)."""
    import io

    members: list[Path] = []
    if snapshot is not None and snapshot.is_dir():
        members = sorted(p for p in snapshot.rglob("*") if p.is_file() or p.is_symlink())
    total = len(members) + 1
    top = f"{profile.name}-bundle"
    with atomic_output(out, PRIVATE) as tmp, tarfile.open(tmp, "w:gz") as tar:
        texts = dict(bundle_files(profile, base_url))
        texts[f"profiles/{Path(profile.source).name}"] = Path(profile.source).read_text()
        for rel, text in sorted(texts.items()):
            data = text.encode()
            info = tarfile.TarInfo(f"{top}/{rel}")
            info.size, info.mtime, info.mode = len(data), int(time.time()), 0o644
            tar.addfile(info, io.BytesIO(data))
        progress(1 / total)
        for i, path in enumerate(members, start=2):
            assert snapshot is not None
            tar.add(path, f"{top}/snapshot/{path.relative_to(snapshot)}", recursive=False)
            if i % 50 == 0:
                progress(i / total)
    progress(1.0)
    return out


def installable_image(data_dir: Path, profile: str) -> ImageFiles | None:
    """The current snapshot's system image, when it has one that unpacks into a normal root:
    the builder records the packages' EPREFIX in the snapshot's meta.json; only a `stage` root
    (EPREFIX "") makes such an image, a `prefix` root's holds its own path (docs/install.md)."""
    from provision.snapshots.read import current_snapshot, read_meta

    snap = current_snapshot(data_dir, profile)
    if snap is None or not files_in(snap / "image").signature.is_file():
        return None
    return files_in(snap / "image") if read_meta(snap).get("eprefix") == "" else None


def image_readme(profile: str, snapshot: str) -> str:
    """Pure: how to check and use the image in an image order."""
    return (
        f"System image of profile {profile} (snapshot {snapshot}), made by Portage from the\n"
        "signed binhost: a Gentoo root file system whose later updates come from\n"
        "`emerge -uDN @world` against the same binhost.\n\n"
        "Check, then unpack into an empty directory (as root, keeps owners and xattrs):\n"
        f"  gpg --import key.asc; gpg --verify {IMAGE_NAME}.manifest.asc {IMAGE_NAME}.manifest\n"
        f"  sha512sum {IMAGE_NAME}   # equals the sha512 line of {IMAGE_NAME}.manifest\n"
        f"  tar --xattrs --xattrs-include='*' --numeric-owner -xpf {IMAGE_NAME} -C ROOT\n"
    )


def make_image_tarball(
    profile: Profile,
    image: ImageFiles,
    public_key: str,
    out: Path,
    progress: Progress,
) -> Path:
    """Write an uncompressed tar (the image is zstd already) holding the image, its signed
    manifest, the public key and a README, atomically."""
    import io

    top = f"{profile.name}-image"
    snapshot = image.image.parent.parent.name
    texts = {"README": image_readme(profile.name, snapshot), "key.asc": public_key}
    with atomic_output(out, PRIVATE) as tmp, tarfile.open(tmp, "w") as tar:
        for rel, text in sorted(texts.items()):
            data = text.encode()
            info = tarfile.TarInfo(f"{top}/{rel}")
            info.size, info.mtime, info.mode = len(data), int(time.time()), 0o644
            tar.addfile(info, io.BytesIO(data))
        for i, path in enumerate((image.manifest, image.signature, image.image), start=1):
            tar.add(path, f"{top}/{path.name}", recursive=False)
            progress(i / 4)
    progress(1.0)
    return out


def iso_maker_available() -> bool:
    return importlib.util.find_spec("provision.iso.build") is not None


def make_iso(
    profile: Profile,
    base_url: str,
    data_dir: Path,
    profiles_dir: Path,
    out: Path,
    progress: Progress,
) -> Path:
    """Adapter to the ISO maker (provision.iso): a generic enrollment ISO for the profile.

    The one place to change if the ISO maker's API does.
    """
    if not iso_maker_available():
        raise ImageError("the ISO maker (provision.iso) is not installed in this build")
    from provision.iso.build import IsoRequest, build_iso

    req = IsoRequest(
        data_dir=data_dir,
        profiles_dir=profiles_dir,
        profile=profile.name,
        output=out,
        server=base_url,
        mode=PRIVATE,
    )
    build_iso(req, lambda done, total: progress(done / total if total else 0.0))
    progress(1.0)
    return out


class ImageMaker:
    """Turns an order into a file in DATA_DIR/images (a Maker)."""

    def __init__(self, data_dir: Path, profiles_dir: Path, base_url: str) -> None:
        self.data_dir = data_dir
        self.profiles_dir = profiles_dir
        self.base_url = base_url

    def __call__(self, order: Order, out_dir: Path, progress: Progress) -> Path:
        profile = ProfileSet(self.profiles_dir).get(order.profile)
        out_dir.mkdir(parents=True, exist_ok=True)
        stem = f"{order.profile}-{order.id}"
        if order.kind == "tarball":
            image = installable_image(self.data_dir, order.profile)
            if image is not None:
                return make_image_tarball(
                    profile, image, self._public_key(), out_dir / f"{stem}.tar", progress
                )
            snap = self.data_dir / "snapshots" / order.profile / "current"
            return make_tarball(
                profile,
                self.base_url,
                snap if snap.exists() else None,
                out_dir / f"{stem}.tar.gz",
                progress,
            )
        out = out_dir / f"{stem}.iso"
        return make_iso(profile, self.base_url, self.data_dir, self.profiles_dir, out, progress)

    def _public_key(self) -> str:
        from provision.signing import export_public_key, load_key
        from provision.snapshots.layout import DataLayout

        return export_public_key(load_key(DataLayout(self.data_dir).keys))


# --- mail ------------------------------------------------------------------------------------
def ready_mail(order: Order, link: str, sender: str) -> EmailMessage:
    """Pure: the 'your image is ready' message."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = order.email
    msg["Subject"] = f"[provision] {order.kind} for {order.profile} is ready (order {order.id})"
    msg.set_content(
        f"Your {order.kind} image for profile {order.profile} is ready.\n\n"
        f"Download: {link}\n\n"
        "Images nobody fetches are deleted after a few days.\n"
    )
    return msg


def failed_mail(order: Order, sender: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = order.email
    msg["Subject"] = f"[provision] {order.kind} for {order.profile} failed (order {order.id})"
    msg.set_content(f"The image could not be made:\n\n{order.error}\n")
    return msg


def send_mail(config: OrderConfig, msg: EmailMessage) -> None:
    with smtplib.SMTP(config.smtp_host, config.smtp_port, timeout=30) as smtp:
        smtp.send_message(msg)


def download_link(base_url: str, order: Order) -> str:
    return f"{base_url.rstrip('/')}/images/{order.id}/{order.token}"


class OrderWorker:
    """One background thread serving the queue; `run_once` is the unit of work (tests call it)."""

    def __init__(
        self,
        queue: OrderQueue,
        maker: Maker,
        out_dir: Path,
        config: OrderConfig,
        base_url: str,
        *,
        sweep_every: float = 600.0,
    ) -> None:
        self.queue = queue
        self.maker = maker
        self.out_dir = out_dir
        self.config = config
        self.base_url = base_url
        self.sweep_every = sweep_every
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        self._wake.set()

    def run_once(self) -> Order | None:
        order = self.queue.claim_next()
        if order is None:
            return None
        log.info("order %d: making %s for %s", order.id, order.kind, order.profile)
        try:
            path = self.maker(order, self.out_dir, lambda f: self.queue.set_progress(order.id, f))
            done = self.queue.finish(order.id, path)
        except Exception as exc:  # any failure is reported on the order, never lost
            log.warning("order %d failed: %s", order.id, exc)
            done = self.queue.fail(order.id, str(exc) or type(exc).__name__)
        self.notify(done)
        return done

    def notify(self, order: Order) -> None:
        if not order.email:
            return
        try:
            EmailAddress(order.email)  # exactly one recipient, even for an order queued before
        except ConfigError:
            log.warning("order %d: %r is not one e-mail address, not mailed", order.id, order.email)
            return
        if not self.config.smtp_host:
            log.info("order %d: no smtp_host configured, not mailing %s", order.id, order.email)
            return
        if order.error:
            msg = failed_mail(order, self.config.mail_from)
        else:
            msg = ready_mail(order, download_link(self.base_url, order), self.config.mail_from)
        try:
            send_mail(self.config, msg)
        except (OSError, smtplib.SMTPException) as exc:
            log.warning("order %d: mail to %s failed: %s", order.id, order.email, exc)

    def _loop(self) -> None:
        last_sweep = 0.0
        while not self._stop.is_set():
            if time.time() - last_sweep >= self.sweep_every:
                expired = sweep(self.queue, time.time(), self.config)
                if expired:
                    log.info("expired images of orders %s", expired)
                last_sweep = time.time()
            if self.run_once() is None:
                self._wake.wait(timeout=min(5.0, self.sweep_every))
                self._wake.clear()

    def start(self) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        requeued = self.queue.requeue_interrupted()
        if requeued:
            log.info("requeued %d interrupted image orders", requeued)
        self._thread = threading.Thread(target=self._loop, name="order-worker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)


def profile_summary(profile: Profile) -> dict[str, object]:
    """What a profile installs, for the picker and the API (JSON-friendly)."""
    data = asdict(profile)
    return {
        "name": profile.name,
        "description": profile.description,
        "inherits": profile.inherits,
        "packages": list(profile.packages),
        "kernel": profile.kernel.package,
        "use": list(profile.portage.use),
        "package_use": {k: list(v) for k, v in profile.portage.package_use.items()},
        "cflags": profile.portage.cflags,
        "binary_only": profile.portage.binary_only,
        "disk": data["disk"],
        "secure_boot": profile.secure_boot,
    }
