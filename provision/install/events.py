"""Install events: printed on the console and POSTed as JSON to the server."""

from __future__ import annotations

import json
import logging
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any, TextIO

log = logging.getLogger(__name__)
PREFIX = "provision-install:"


def event_body(
    kind: str, step: str = "", message: str = "", progress: float | None = None, log_tail: str = ""
) -> dict[str, Any]:
    body: dict[str, Any] = {"kind": kind, "step": step, "message": message}
    if progress is not None:
        body["progress"] = round(progress, 3)
    if log_tail:
        body["log_tail"] = log_tail[-8192:]
    return body


def console_line(body: dict[str, Any]) -> str:
    parts = [PREFIX, body["kind"]]
    if body.get("step"):
        parts.append(f"[{body['step']}]")
    if body.get("progress") is not None:
        parts.append(f"{body['progress'] * 100:.0f}%")
    if body.get("message"):
        parts.append(str(body["message"]))
    return " ".join(parts)


@dataclass
class Events:
    """Print every event; POST it to `url` (Bearer token) when set.  Posting never aborts."""

    url: str = ""
    token: str = ""
    out: TextIO = field(default_factory=lambda: sys.stdout)
    timeout: float = 10.0
    sent: list[dict[str, Any]] = field(default_factory=list)
    failed_posts: int = 0

    def emit(
        self,
        kind: str,
        step: str = "",
        message: str = "",
        progress: float | None = None,
        log_tail: str = "",
        *,
        best_effort: bool = False,
    ) -> None:
        """Print the event and POST it to the server.  best_effort: a failed POST is not worth
        a warning (what comes next reports the server's problem with its own, clearer error)."""
        body = event_body(kind, step, message, progress, log_tail)
        print(console_line(body), file=self.out, flush=True)
        self.sent.append(body)
        if self.url:
            self._post(body, best_effort)

    def _post(self, body: dict[str, Any], best_effort: bool = False) -> None:
        req = urllib.request.Request(
            self.url,
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.token}"},
        )
        for _attempt in range(3):
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    resp.read()
                return
            except (urllib.error.URLError, OSError) as exc:
                last = exc
        self.failed_posts += 1
        level = logging.DEBUG if best_effort else logging.WARNING
        log.log(level, "could not send event %s to %s: %s", body["kind"], self.url, last)
