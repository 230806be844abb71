"""HTTP fetches for the installer: JSON config, streamed downloads with SHA-512, GPG checks."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from provision.errors import InstallError
from provision.fsutil import atomic_output
from provision.run import run

CHUNK = 1 << 20


def _open(url: str, token: str = "", timeout: float = 30, method: str = "GET") -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    req = urllib.request.Request(url, headers=headers, method=method)
    try:
        return urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as exc:
        detail = _error_detail(exc)
        raise InstallError(
            f"{url}: the server answered {exc.code} {exc.reason}"
            + (f": {detail}" if detail else "")
        ) from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise InstallError(f"{url}: server unreachable ({reason})") from exc


def _error_detail(exc: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(exc.read(4096) or b"{}")
    except (ValueError, OSError):
        return ""
    finally:
        exc.close()
    return str(body.get("error", "")) if isinstance(body, dict) else ""


def get_json(url: str, token: str = "") -> Any:
    with _open(url, token) as resp:
        try:
            return json.loads(resp.read())
        except ValueError as exc:
            raise InstallError(f"{url}: not JSON ({exc})") from exc


def get_bytes(url: str, token: str = "", limit: int = 16 << 20) -> bytes:
    with _open(url, token) as resp:
        data: bytes = resp.read(limit + 1)
    if len(data) > limit:
        raise InstallError(f"{url}: larger than {limit} bytes")
    return data


def check_reachable(url: str) -> None:
    """HEAD (falling back to a ranged GET) so a missing file fails before anything is wiped."""
    with _open(url, method="HEAD"):
        pass


def exists(url: str) -> bool:
    """HEAD url: True when it is there, False on 404 (or 410); other failures raise."""
    req = urllib.request.Request(url, method="HEAD")
    try:
        with urllib.request.urlopen(req, timeout=30):
            return True
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code in (404, 410):
            return False
        raise InstallError(f"{url}: the server answered {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise InstallError(f"{url}: server unreachable ({reason})") from exc


def download(url: str, dest: Path) -> str:
    """Stream url into dest; returns the SHA-512 (hex) of what was written."""
    digest = hashlib.sha512()
    dest.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(dest) as tmp, _open(url, timeout=60) as resp, open(tmp, "wb") as out:
        while chunk := resp.read(CHUNK):
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def parse_sha512_file(text: str, name: str) -> str:
    """The hash for `name` in a sha512sum-style file (one bare hash is accepted too)."""
    lines = [ln.split() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    for fields in lines:
        if re.fullmatch(r"[0-9a-fA-F]{128}", fields[0]) and (
            len(fields) == 1 or fields[-1].lstrip("*") == name
        ):
            return fields[0].lower()
    raise InstallError(f"no SHA-512 for {name} in the checksum file")


class Keyring:
    """A throwaway GnuPG home holding the server's public key: verifies detached signatures."""

    def __init__(self, home: Path, key_asc: bytes, pin: str = "") -> None:
        self.home = home
        home.mkdir(parents=True, exist_ok=True, mode=0o700)
        res = run(
            ["gpg", "--homedir", home, "--batch", "--no-autostart", "--status-fd", "1", "--import"],
            input=key_asc,
            check=False,
        )
        fprs = re.findall(r"IMPORT_OK \d+ ([0-9A-F]{40})", res.stdout)
        if not fprs:
            raise InstallError("the server's key (key.asc) could not be imported: not a key")
        if pin and pin.replace(" ", "").upper() not in fprs:
            raise InstallError(f"the server's key {fprs[0]} is not the pinned key {pin}")
        self.fingerprint = fprs[0]

    def install_into(self, home: Path) -> None:
        """Make `home` a keyring that trusts only this key fully (for Portage's verification:
        it accepts only fully/ultimately trusted keys).  Built here, in a short path (gpg's
        agent socket), then copied; readable by all (verification runs as nobody)."""
        run(
            ["gpg", "--homedir", self.home, "--batch", "--no-autostart", "--import-ownertrust"],
            input=f"{self.fingerprint}:6:\n",
        )
        run(
            ["gpg", "--homedir", self.home, "--batch", "--no-autostart", "--check-trustdb"],
            check=False,
        )
        home.mkdir(parents=True, exist_ok=True)
        home.chmod(0o755)
        for name in ("pubring.kbx", "trustdb.gpg"):
            shutil.copyfile(self.home / name, home / name)
            (home / name).chmod(0o644)

    def verify(self, data: Path, signature: Path) -> None:
        res = run(
            [
                "gpg",
                "--homedir",
                self.home,
                "--batch",
                "--no-autostart",
                "--status-fd",
                "1",
                "--verify",
                signature,
                data,
            ],
            check=False,
        )
        if not re.search(rf"VALIDSIG {self.fingerprint}\b", res.stdout) and not re.search(
            r"VALIDSIG [0-9A-F]+ .* " + self.fingerprint, res.stdout
        ):
            raise InstallError(f"bad signature on {data.name} (not signed by {self.fingerprint})")


def verified_sha512(url: str, keyring: Keyring | None, workdir: Path) -> str:
    """Fetch <url>.sha512 (and, with a keyring, check <url>.sha512.asc): the expected hash."""
    name = url.rstrip("/").rsplit("/", 1)[-1]
    sums = workdir / f"{name}.sha512"
    sums.write_bytes(get_bytes(url + ".sha512"))
    if keyring is not None:
        sig = workdir / f"{name}.sha512.asc"
        sig.write_bytes(get_bytes(url + ".sha512.asc"))
        keyring.verify(sums, sig)
    return parse_sha512_file(sums.read_text(errors="replace"), name)


def scratch_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="provision-install-"))


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
