"""Names that come from outside (CLI, forms, API, TFTP, files): one typed constructor each.

Every entry point calls these before it uses a name; they return the canonical spelling or raise
ConfigError with one line saying what is allowed.  Patterns match the whole string (`\\Z`, never
`$`, which also matches before a trailing newline).
"""

from __future__ import annotations

import re

from provision.errors import ConfigError

_MAC_RE = re.compile(r"[0-9a-f]{2}([:-]?[0-9a-f]{2}){5}\Z")
_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
_HOSTNAME_RE = re.compile(rf"(?=.{{1,253}}\Z){_LABEL}(\.{_LABEL})*\Z")


def normalize_mac(value: str) -> str:
    """aa:bb:cc:dd:ee:ff from any common spelling (AA-BB-.., aabbcc..); ConfigError otherwise."""
    text = value.strip().lower()
    if not _MAC_RE.match(text):
        raise ConfigError("mac", f"{value!r} is not a MAC address (aa:bb:cc:dd:ee:ff)")
    hexdigits = re.sub(r"[^0-9a-f]", "", text)
    return ":".join(hexdigits[i : i + 2] for i in range(0, 12, 2))


def check_hostname(value: str) -> str:
    """A DNS host name (labels of a-z, 0-9, '-', joined by dots), or "" for none."""
    if value and not _HOSTNAME_RE.match(value):
        raise ConfigError("hostname", f"{value!r} is not a valid host name (a-z, 0-9, '-', dots)")
    return value
