"""`provision serve` as a real process on loopback, for the tests that need the live server
(granian, its limits, the umask, the data dir): start it on a free port, read the URL it
prints, stop it with SIGTERM.  A data dir with a secret key and an admin password is made by
`server_data`; host and admin credentials can be minted straight into its SQLite file."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest
from werkzeug.security import generate_password_hash

from provision.server.sessions import SessionKind, Sessions, password_tag
from provision.server.store import Store
from tests.conftest import PROFILES

SECRET_KEY = "k" * 40


@dataclass
class Server:
    proc: subprocess.Popen[str]
    url: str
    output: list[str]
    pump: threading.Thread
    data: Path

    def stop(self) -> int:
        """SIGTERM, wait, and return the exit code (the output is in `output`)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(30)
        self.pump.join(10)
        assert self.proc.stdout is not None
        self.proc.stdout.close()
        return rc


def server_data(data: Path, password: str, *, extra: str = "", fast_hash: bool = False) -> str:
    """A data dir whose server.toml has a secret key and the admin password; returns the
    password hash.  `fast_hash`: a cheap pbkdf2 hash (tests that log in often)."""
    method = "pbkdf2:sha256:1000" if fast_hash else "scrypt"
    pw_hash = generate_password_hash(password, method=method)
    data.mkdir(parents=True, exist_ok=True)
    (data / "server.toml").write_text(
        f'secret_key = "{SECRET_KEY}"\nadmin_password_hash = "{pw_hash}"\n{extra}'
    )
    return pw_hash


def start_serve(data: Path, *args: str) -> Server:
    argv = [sys.executable, "-m", "provision", "--data-dir", str(data)]
    argv += ["--profiles-dir", str(PROFILES), "serve", "--listen", "127.0.0.1:0", "--no-build"]
    proc = subprocess.Popen(
        [*argv, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    output: list[str] = []
    found = threading.Event()
    url: list[str] = []

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            output.append(line)
            m = re.search(r"serving on (http://127\.0\.0\.1:\d+)/", line)
            if m and not url:
                url.append(m.group(1))
                found.set()
        found.set()

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    if not (found.wait(60) and url):
        proc.kill()
        proc.wait()
        thread.join(10)
        proc.stdout.close()
        pytest.fail(f"provision serve did not start: {''.join(output)}")
    return Server(proc, url[0], output, thread, data)


def admin_token(data: Path, password_hash: str) -> str:
    """A valid admin API token, minted in the server's SQLite file (no login, no throttle)."""
    with closing(Sessions.in_data_dir(data)) as sessions:
        secret, _ = sessions.open(
            SessionKind.API,
            lifetime=3600,
            address="test",
            tag=password_tag(SECRET_KEY, password_hash),
        )
    return secret


def host_token(data: Path, mac: str, profile: str) -> str:
    """Register (or keep) a host with a profile; its installer token."""
    with closing(Store.in_data_dir(data)) as store:
        return store.upsert_host(mac, profile=profile).token
