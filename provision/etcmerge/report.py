"""The etc-merge report: what was decided for each file, what still needs a person.

JSON, printed or written to a file, and POSTed to the provisioning server (which shows the
pending decisions per host) when a URL is given.
"""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from provision.errors import ProvisionError
from provision.etcmerge.apply import Applied
from provision.etcmerge.decide import Decision
from provision.etcmerge.plan import Item
from provision.etcmerge.target import Target
from provision.fsutil import write_atomic

FORMAT = "provision-etc-merge/1"


def build_report(
    target: Target,
    items: Sequence[Item],
    outcomes: Mapping[str, tuple[Decision, Applied | None]],
    *,
    mode: str,
    host: str = "",
    dry_run: bool = False,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Pure: the report for a run.  `outcomes` maps a target path to the decision finally taken
    (the policy's, or the admin's in guided mode) and what applying it did (None: not applied)."""
    files = []
    for item in items:
        decision, applied = outcomes.get(item.tpath, (item.decision, None))
        files.append(
            {
                "path": item.tpath,
                "action": decision.action.value,
                "code": decision.code,
                "reason": decision.reason,
                "via": decision.via,
                "applied": applied is not None,
                "archived": applied.archived if applied else None,
                "updates": list(item.pending.cfg),
                "conflicts": decision.merged.conflicts if decision.merged else 0,
            }
        )
    # pending: still waits for a person (asked and not answered, or skipped)
    pending = [f["path"] for f in files if f["action"] == "ask"]
    return {
        "format": FORMAT,
        "host": host or socket.gethostname(),
        "root": str(target.root),
        "eprefix": target.eprefix,
        "time": (now or datetime.now(UTC)).isoformat(timespec="seconds"),
        "mode": mode,
        "dry_run": dry_run,
        "files": files,
        "settled": len(files) - len(pending),
        "pending": pending,
    }


def to_json(report: Mapping[str, Any]) -> str:
    return json.dumps(report, indent=2, sort_keys=False) + "\n"


def write_report(path: Path, report: Mapping[str, Any]) -> None:
    write_atomic(path, to_json(report))


def post_report(url: str, report: Mapping[str, Any], timeout: float = 30) -> int:
    """POST the report as JSON; returns the HTTP status.  Failures raise ProvisionError."""
    if not url.startswith(("http://", "https://")):
        raise ProvisionError(f"--report-url: {url!r} is not an http:// or https:// URL")
    req = urllib.request.Request(
        url,
        data=to_json(report).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status: int = resp.status
            return status
    except urllib.error.HTTPError as exc:
        raise ProvisionError(f"report to {url} refused: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise ProvisionError(f"cannot send the report to {url}: {exc}") from exc
