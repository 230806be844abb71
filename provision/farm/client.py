"""A worker's HTTP client for the server's farm API (docs/farm.md, "Protocol").

Every call carries the worker token (Bearer).  A server that cannot be reached is retried with
backoff for `retry_for` seconds (a restarted server: the upload resumes where the server's bytes
end).  409/410 on a lease-protected call means the lease is gone: Fenced, stop the pass.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from provision.errors import ProvisionError
from provision.farm.model import Manifest

log = logging.getLogger(__name__)
CHUNK = 512 << 10  # below the server's request body cap


class Fenced(ProvisionError):
    """The server no longer grants this worker the slot (expired, cancelled or decided)."""


class Unreachable(ProvisionError):
    """The server did not answer (connection refused, reset, timed out)."""


class FarmHTTPError(ProvisionError):
    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(f"server answered {status}: {message}")


@dataclass
class Response:
    status: int
    body: bytes

    def json(self) -> dict[str, Any]:
        try:
            data = json.loads(self.body or b"{}")
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    @property
    def message(self) -> str:
        return str(self.json().get("error", self.body[:200].decode(errors="replace")))


@dataclass
class Throttle:
    """At most `rate` bytes per second (0: no limit)."""

    rate: int = 0
    _start: float = field(default_factory=time.monotonic)
    _sent: int = 0

    def wait(self, sent: int) -> None:
        if self.rate <= 0:
            return
        self._sent += sent
        ahead = self._sent / self.rate - (time.monotonic() - self._start)
        if ahead > 0:
            time.sleep(ahead)


@dataclass
class FarmClient:
    server: str
    token: str
    timeout: float = 60.0
    retry_for: float = 900.0
    sleep: Callable[[float], None] = time.sleep

    def url(self, path: str, query: Mapping[str, str] | None = None) -> str:
        q = f"?{urllib.parse.urlencode(query)}" if query else ""
        return f"{self.server.rstrip('/')}/api/v1/farm/{path}{q}"

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
        retry: bool = True,
    ) -> Response:
        """One call; connection failures are retried (not HTTP errors: they are answers)."""
        hdrs = {"Authorization": f"Bearer {self.token}", **(headers or {})}
        if body is not None:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        deadline = time.monotonic() + self.retry_for
        delay = 0.5
        while True:
            req = urllib.request.Request(
                self.url(path, query), data=data, method=method, headers=hdrs
            )
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    return Response(resp.status, resp.read())
            except urllib.error.HTTPError as exc:
                return Response(exc.code, exc.read())
            except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
                if not retry or time.monotonic() > deadline:
                    raise Unreachable(f"farm server {self.server}: {exc}") from exc
                log.info("farm server unreachable (%s); retrying in %.1f s", exc, delay)
                self.sleep(delay)
                delay = min(delay * 2, 5.0)

    # --- identity and liveness ------------------------------------------------------------------
    def whoami(self) -> dict[str, Any]:
        r = self.request("GET", "whoami")
        if r.status != 200:
            raise FarmHTTPError(r.status, r.message)
        return r.json()

    def heartbeat(self, host: str, queues: list[str], profiles: list[str], slot: str) -> bool:
        body = {"host": host, "queues": queues, "profiles": profiles, "slot": slot}
        return self.request("POST", "heartbeat", body=body, retry=False).status == 200

    # --- a slot ---------------------------------------------------------------------------------
    def lease(self, slot: str, delivery: str) -> Response:
        return self.request("POST", f"slots/{slot}/lease", body={"delivery": delivery})

    def beat(self, slot: str, lease: str) -> bool:
        """False when fenced; True also when the server is unreachable (not our call)."""
        try:
            r = self.request("POST", f"slots/{slot}/beat", body={"lease": lease}, retry=False)
        except ProvisionError:
            return True
        return r.status not in (409, 410, 404)

    def download(self, path: str, dest: Path, size: int, sha256: str) -> None:
        """GET a pass file to dest, checked against its size and SHA-256."""
        deadline = time.monotonic() + self.retry_for
        while True:
            req = urllib.request.Request(
                self.url(path), headers={"Authorization": f"Bearer {self.token}"}
            )
            tmp = dest.with_name(f".{dest.name}.part")
            dest.parent.mkdir(parents=True, exist_ok=True)
            digest = hashlib.sha256()
            try:
                with (
                    urllib.request.urlopen(req, timeout=self.timeout) as resp,
                    open(tmp, "wb") as f,
                ):
                    while block := resp.read(1 << 20):
                        digest.update(block)
                        f.write(block)
            except urllib.error.HTTPError as exc:
                if exc.code in (409, 410, 404, 401):
                    raise Fenced(f"{path}: {exc.code}") from exc
                raise FarmHTTPError(exc.code, str(exc)) from exc
            except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
                if time.monotonic() > deadline:
                    raise ProvisionError(f"farm server {self.server}: {exc}") from exc
                self.sleep(1.0)
                continue
            if tmp.stat().st_size != size or digest.hexdigest() != sha256:
                tmp.unlink()
                raise ProvisionError(f"{path}: download does not match its size and SHA-256")
            os.replace(tmp, dest)
            return

    def upload(
        self,
        slot: str,
        lease: str,
        manifest: Manifest,
        files: Mapping[str, Path],
        *,
        chunk: int = CHUNK,
        throttle: Throttle | None = None,
        progress: Callable[[str, int], None] | None = None,
    ) -> dict[str, Any]:
        """Send what the server still needs, in chunks; then complete.  Returns the server's
        answer to complete ({"state": ...}); raises Fenced when the lease is gone."""
        throttle = throttle or Throttle()
        deadline = time.monotonic() + self.retry_for
        while True:
            # the server's answer says where each file stands: after a dropped connection or a
            # restarted server, the upload continues from the server's bytes
            r = self.request(
                "POST", f"slots/{slot}/manifest", body={"lease": lease, **manifest.as_dict()}
            )
            self._check(r)
            need = r.json().get("need", [])
            if not need:
                break
            try:
                for item in need:
                    rel, offset = str(item["path"]), int(item["offset"])
                    if offset:
                        log.info("%s: resuming the upload at byte %d", rel, offset)
                    self._send_file(slot, lease, rel, files[rel], offset, chunk, throttle, progress)
            except Unreachable as exc:
                if time.monotonic() > deadline:
                    raise ProvisionError(str(exc)) from exc
                log.info("upload interrupted (%s); asking the server where it stands", exc)
                self.sleep(1.0)
        r = self.request("POST", f"slots/{slot}/complete", body={"lease": lease})
        self._check(r, allow=(422,))
        return r.json()

    def _send_file(
        self,
        slot: str,
        lease: str,
        rel: str,
        path: Path,
        offset: int,
        chunk: int,
        throttle: Throttle,
        progress: Callable[[str, int], None] | None,
    ) -> None:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            while True:
                fh.seek(offset)
                block = fh.read(chunk)
                r = self.request(
                    "PUT",
                    f"slots/{slot}/files/{rel}",
                    data=block,
                    query={"offset": str(offset)},
                    headers={
                        "X-Lease": lease,
                        "X-Chunk-SHA256": hashlib.sha256(block).hexdigest(),
                        "Content-Type": "application/octet-stream",
                    },
                    retry=False,
                )
                if r.status == 416:  # the server has another offset (e.g. after a restart)
                    offset = int(r.json().get("have", 0))
                    continue
                self._check(r)
                offset = int(r.json().get("size", offset + len(block)))
                throttle.wait(len(block))
                if progress is not None:
                    progress(rel, offset)
                if offset >= size:
                    return

    @staticmethod
    def _check(r: Response, allow: tuple[int, ...] = ()) -> None:
        if r.status in (409, 410, 404):
            raise Fenced(r.message)
        if r.status != 200 and r.status not in allow:
            raise FarmHTTPError(r.status, r.message)
