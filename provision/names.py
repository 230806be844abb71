"""Names that come from outside (CLI, forms, API, URL paths, TFTP, files): one typed constructor
each.

Every entry point builds one of these before it uses a name: `ProfileName(value)`,
`HostName(value)`, `Mac(value)`, `SnapshotId(value)`, `OrderId(value)`, `EmailAddress(value)`.
Each returns the canonical spelling (a `str`, or an `int` for OrderId, so it goes anywhere the
plain value goes) or raises ConfigError with one line saying what is allowed.  Patterns match
the whole string (`\\Z`, never `$`, which also matches before a trailing newline), allow no path
separators, and every name has a length cap.  Values of the wrong type (a JSON number where a
name is expected, None...) are refused the same way.
"""

from __future__ import annotations

import re
from typing import Self

from provision.errors import ConfigError

PROFILE_NAME_MAX = 64
HOSTNAME_MAX = 253
SNAPSHOT_ID_MAX = 80
EMAIL_MAX = 254
ORDER_ID_MAX = 2**63 - 1  # SQLite's INTEGER

# The patterns without their anchor are also the URL converters' regexes (server.converters).
MAC_PATTERN = r"[0-9A-Fa-f]{2}(?:[:-]?[0-9A-Fa-f]{2}){5}"
PROFILE_PATTERN = rf"[A-Za-z0-9][A-Za-z0-9_.+-]{{0,{PROFILE_NAME_MAX - 1}}}"
SNAPSHOT_PATTERN = rf"[A-Za-z0-9][A-Za-z0-9_.-]{{0,{SNAPSHOT_ID_MAX - 1}}}"
ORDER_ID_PATTERN = r"[0-9]{1,19}"
WORKER_NAME_MAX = 32
WORKER_PATTERN = rf"[a-z0-9][a-z0-9-]{{0,{WORKER_NAME_MAX - 1}}}"
_MAC_RE = re.compile(rf"{MAC_PATTERN}\Z")
_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
_HOSTNAME_RE = re.compile(rf"(?=.{{1,{HOSTNAME_MAX}}}\Z){_LABEL}(\.{_LABEL})*\Z")
# Profile names are file stems (profiles/NAME.toml) and URL segments: no separators, no dots
# first (no hidden files, no "." or ".."), no blanks or control characters.
_PROFILE_RE = re.compile(rf"{PROFILE_PATTERN}\Z")
# Snapshot ids are directory names the builder makes (20240102T000000Z-ab12cd).
_SNAPSHOT_RE = re.compile(rf"{SNAPSHOT_PATTERN}\Z")
_ORDER_ID_RE = re.compile(rf"{ORDER_ID_PATTERN}\Z")
# Worker names are Celery queue names (worker.NAME) and node names (NAME@host).
_WORKER_RE = re.compile(rf"{WORKER_PATTERN}\Z")
# One address, nothing else: no comma/semicolon lists, no display names, no blanks.
_EMAIL_LOCAL = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_EMAIL_RE = re.compile(rf"(?=.{{3,{EMAIL_MAX}}}\Z)(?=[^@]{{1,64}}@){_EMAIL_LOCAL}@"
                       rf"(localhost|{_LABEL}(\.{_LABEL})+)\Z", re.IGNORECASE)  # fmt: skip


def _text(kind: str, value: object, limit: int, what: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(kind, f"expected a string, got {type(value).__name__}")
    if len(value) > limit:
        raise ConfigError(
            kind, f"{value[:limit]!r}... is not {what}: longer than {limit} characters"
        )
    return value


class ProfileName(str):
    """A profile's name: letters, digits and _ . + - (not first), at most 64 characters."""

    __slots__ = ()

    def __new__(cls, value: object) -> Self:
        text = _text("profile", value, PROFILE_NAME_MAX, "a profile name")
        if not _PROFILE_RE.match(text):
            raise ConfigError(
                "profile",
                f"{text!r} is not a profile name (letters, digits, _ . + -; not first; "
                f"at most {PROFILE_NAME_MAX})",
            )
        return super().__new__(cls, text)


class HostName(str):
    """A DNS host name: labels of a-z, 0-9, '-' joined by dots, at most 253 characters."""

    __slots__ = ()

    def __new__(cls, value: object) -> Self:
        text = _text("hostname", value, HOSTNAME_MAX, "a valid host name")
        if not _HOSTNAME_RE.match(text):
            raise ConfigError(
                "hostname", f"{text!r} is not a valid host name (a-z, 0-9, '-', dots)"
            )
        return super().__new__(cls, text)


class Mac(str):
    """A MAC address in its canonical spelling aa:bb:cc:dd:ee:ff, from any common spelling
    (AA-BB-CC-DD-EE-FF, aabb.., upper or lower case)."""

    __slots__ = ()

    def __new__(cls, value: object) -> Self:
        text = _text("mac", value, 17, "a MAC address").lower()
        if not _MAC_RE.match(text):
            raise ConfigError("mac", f"{value!r} is not a MAC address (aa:bb:cc:dd:ee:ff)")
        hexdigits = text.replace(":", "").replace("-", "")
        return super().__new__(cls, ":".join(hexdigits[i : i + 2] for i in range(0, 12, 2)))


class SnapshotId(str):
    """A published snapshot's id (its directory name): letters, digits and _ . -."""

    __slots__ = ()

    def __new__(cls, value: object) -> Self:
        text = _text("snapshot", value, SNAPSHOT_ID_MAX, "a snapshot id")
        if not _SNAPSHOT_RE.match(text):
            raise ConfigError("snapshot", f"{text!r} is not a snapshot id")
        return super().__new__(cls, text)


class WorkerName(str):
    """A build-farm worker's name: a-z, 0-9 and '-' (not first), at most 32 characters."""

    __slots__ = ()

    def __new__(cls, value: object) -> Self:
        text = _text("worker", value, WORKER_NAME_MAX, "a worker name")
        if not _WORKER_RE.match(text):
            raise ConfigError(
                "worker",
                f"{text!r} is not a worker name (a-z, 0-9, '-'; not first; "
                f"at most {WORKER_NAME_MAX})",
            )
        return super().__new__(cls, text)


class OrderId(int):
    """An image order's number: 1 .. 2**63-1, from an int or a string of digits."""

    __slots__ = ()

    def __new__(cls, value: object) -> Self:
        if isinstance(value, str):
            if not _ORDER_ID_RE.match(value):
                raise ConfigError("order", f"{value[:40]!r} is not an order number")
            number = int(value)
        elif isinstance(value, int) and not isinstance(value, bool):
            number = value
        else:
            raise ConfigError("order", f"expected an order number, got {type(value).__name__}")
        if not 1 <= number <= ORDER_ID_MAX:
            raise ConfigError("order", f"{number} is not an order number (1 .. 2**63-1)")
        return super().__new__(cls, number)


class EmailAddress(str):
    """One e-mail address (user@example.org, user@localhost): never a list, never a display
    name, no blanks: what goes in a To: header is exactly one recipient."""

    __slots__ = ()

    def __new__(cls, value: object) -> Self:
        text = _text("email", value, EMAIL_MAX, "one e-mail address")
        if not _EMAIL_RE.match(text):
            raise ConfigError(
                "email", f"{text!r} is not an e-mail address (exactly one: user@example.org)"
            )
        return super().__new__(cls, text)


def normalize_mac(value: str) -> str:
    """aa:bb:cc:dd:ee:ff from any common spelling; ConfigError otherwise (see Mac)."""
    return str(Mac(value))


def check_hostname(value: str) -> str:
    """A DNS host name, or "" for none (see HostName)."""
    return str(HostName(value)) if value != "" else ""
