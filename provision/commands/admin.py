"""`provision admin-password`: set the web UI's admin password (a hash in server.toml)."""

from __future__ import annotations

import argparse
import getpass
import os
import re
import secrets
import sys
import tomllib
from contextlib import closing
from pathlib import Path
from typing import Any

from provision.commands import Context
from provision.errors import ConfigError
from provision.fsutil import write_atomic
from provision.server.audit import AuditLog
from provision.server.auth import hash_password
from provision.server.sessions import Sessions
from provision.server.settings import CONFIG_NAME

MIN_LENGTH = 8


def register(sub: Any) -> None:
    p = sub.add_parser("admin-password", help="set the admin password of the web UI")
    p.add_argument(
        "--stdin", action="store_true", help="read the password from standard input (one line)"
    )
    p.set_defaults(func=cmd_admin_password)


def toml_string(value: str) -> str:
    """A TOML basic string (JSON escapes are valid TOML escapes for these characters)."""
    out = value.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + re.sub(r"[\x00-\x1f\x7f]", lambda m: f"\\u{ord(m.group()):04x}", out) + '"'


def set_key(text: str, key: str, value: str) -> str:
    """Pure: server.toml text with `key = "value"` set (replaced in place, or appended).

    Comments and other keys stay as they are.  The result is checked to parse.
    """
    line = f"{key} = {toml_string(value)}"
    pattern = re.compile(rf"^{re.escape(key)}\s*=.*$", re.M)
    if pattern.search(text):
        new = pattern.sub(lambda _: line, text, count=1)
    else:
        new = text + ("" if not text or text.endswith("\n") else "\n") + line + "\n"
    try:
        parsed = tomllib.loads(new)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(CONFIG_NAME, f"cannot update: not valid TOML ({exc})") from exc
    if parsed.get(key) != value:
        raise ConfigError(CONFIG_NAME, f"cannot update {key}: it is not a top-level string key")
    return new


def check_password(password: str) -> str:
    if len(password) < MIN_LENGTH:
        raise ConfigError("password", f"too short (at least {MIN_LENGTH} characters)")
    return password


def read_password(from_stdin: bool) -> str:
    if from_stdin:
        return check_password(sys.stdin.readline().rstrip("\n"))
    first = getpass.getpass("New admin password: ")
    if getpass.getpass("Again: ") != first:
        raise ConfigError("password", "the two entries differ")
    return check_password(first)


def cmd_admin_password(ctx: Context, args: argparse.Namespace) -> int:
    path = ctx.data_dir / CONFIG_NAME
    text = path.read_text() if path.is_file() else ""
    if text:
        try:
            current = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(str(path), f"not valid TOML: {exc}") from exc
    else:
        current = {}
    password = read_password(args.stdin)
    new = set_key(text, "admin_password_hash", hash_password(password))
    if not current.get("secret_key") and not os.environ.get("PROVISION_SECRET_KEY"):
        new = set_key(new, "secret_key", secrets.token_urlsafe(32))
        print(f"provision: no secret key was set; a random one was written to {path}")
    write_atomic(path, new, mode=0o600)
    print(f"provision: admin password set in {path}")
    revoked = revoke_sessions(ctx.data_dir)
    print(f"provision: {revoked} admin sessions and API tokens revoked")
    return 0


def revoke_sessions(data_dir: Path) -> int:
    """A new password ends every login and token made with the old one (and says so in the
    audit log).  A running server reads the new password at its next start."""
    with closing(Sessions.in_data_dir(data_dir)) as sessions:
        count = sessions.revoke_all()
    with closing(AuditLog.in_data_dir(data_dir)) as audit:
        audit.add("cli", "password-changed", address="local", detail=f"{count} sessions revoked")
    return count
