"""Pure validators for profile values; errors name the key and what is allowed."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

from provision.errors import ConfigError

T = TypeVar("T")

_NAME = r"[A-Za-z0-9_][A-Za-z0-9+_.-]*"
_VERSION = r"\d+(\.\d+)*[a-z]?((_alpha|_beta|_pre|_rc|_p)\d*)*(-r\d+)?"
_ATOM_RE = re.compile(
    rf"(?P<op>(>=|<=|=|~|<|>|!!|!))?(?P<cat>{_NAME})/(?P<pn>{_NAME}?)"
    rf"(-(?P<ver>{_VERSION})(?P<star>\*)?)?"
    rf"(:(?P<slot>[A-Za-z0-9_*][A-Za-z0-9+_.\-/=*]*))?"
    rf"(::(?P<repo>{_NAME}))?"
    rf"(\[(?P<use>[A-Za-z0-9+_@.,!?=()-]+)\])?\Z"
)
_USE_FLAG_RE = re.compile(r"-?[A-Za-z0-9][A-Za-z0-9+_@.-]*\Z")
_SIZE_RE = re.compile(r"(?P<num>\d{1,15}(\.\d{1,9})?) ?(?P<unit>[KMGT]i?B?|B)?\Z", re.IGNORECASE)
_UNITS = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_KVER_RE = re.compile(r"\d{1,4}\.\d{1,4}(\.\d{1,4})?\Z")
_MAKEVAR_RE = re.compile(r"[A-Z_][A-Z0-9_]{0,63}\Z")
# Profile strings end up in make.conf, boot menus and scripts: one line, printable.
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")
_TEXT_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # descriptions: \t and \n too
MAX_SIZE = 1 << 60  # bytes: larger than any disk


def type_name(value: object) -> str:
    return {
        bool: "boolean",
        int: "integer",
        float: "float",
        str: "string",
        list: "array",
        dict: "table",
    }.get(type(value), type(value).__name__)


def expect(key: str, value: Any, kind: type[T], what: str) -> T:
    # bool is an int subclass: refuse it where an integer is asked for.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(key, f"expected {what}, got {type_name(value)} {value!r}")
    return value


def string(key: str, value: Any) -> str:
    """A one-line string: no control characters (no newline can add a line downstream)."""
    s = expect(key, value, str, "a string")
    if _CONTROL_RE.search(s):
        raise ConfigError(key, f"{s!r} contains a control character (one line, printable)")
    return s


def text(key: str, value: Any) -> str:
    """Free text (a description): may span lines, no other control characters."""
    s = expect(key, value, str, "a string")
    if _TEXT_CONTROL_RE.search(s):
        raise ConfigError(key, f"{s!r} contains a control character")
    return s


def boolean(key: str, value: Any) -> bool:
    return expect(key, value, bool, "true or false")


def string_list(
    key: str, value: Any, check: Callable[[str, str], str] | None = None
) -> tuple[str, ...]:
    items = expect(key, value, list, "an array of strings")
    out: list[str] = []
    for i, item in enumerate(items):
        s = string(f"{key}[{i}]", item)
        out.append(check(f"{key}[{i}]", s) if check else s)
    return tuple(out)


def atom(key: str, value: str, *, allow_operator: bool = True) -> str:
    """A Portage package atom such as app-misc/hello, >=dev-libs/nss-3.45, dev-libs/foo:0/1."""
    m = _ATOM_RE.match(value)
    bad = m is None or not m.group("pn")
    if m is not None and not bad:
        has_op, has_ver = bool(m.group("op")), bool(m.group("ver"))
        # A version needs an operator and an operator needs a version ('!' blockers excepted).
        bad = has_op != has_ver and m.group("op") not in ("!", "!!")
        if m.group("star") and m.group("op") != "=":
            bad = True
        if has_op and not allow_operator:
            bad = True
    if bad:
        allowed = "category/name, optionally with an operator and version (>=cat/name-1.2)"
        if not allow_operator:
            allowed = "category/name without a version"
        raise ConfigError(key, f"{value!r} is not a valid package atom ({allowed})")
    return value


def use_flag(key: str, value: str) -> str:
    if not _USE_FLAG_RE.match(value):
        raise ConfigError(
            key, f"{value!r} is not a USE flag (letters, digits, +_@.-; '-' to disable)"
        )
    return value


def size(key: str, value: Any, *, allow_rest: bool = False) -> int | None:
    """Bytes from 512M / 20G / 1.5T / an integer of bytes; 'rest' means the remaining space."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_SIZE:
        return value
    if isinstance(value, str):
        if allow_rest and value.strip().lower() in ("rest", "100%"):
            return None
        m = _SIZE_RE.match(value.strip())
        if m:
            unit = (m.group("unit") or "").upper().replace("IB", "").replace("B", "")
            n = int(float(m.group("num")) * _UNITS[unit])
            if 0 < n <= MAX_SIZE:
                return n
    allowed = "a size such as 512M, 20G, 1T" + (" or 'rest'" if allow_rest else "")
    raise ConfigError(key, f"{value!r} is not a valid size ({allowed})")


def kernel_version(key: str, value: str) -> str:
    if value and not _KVER_RE.match(value):
        raise ConfigError(key, f"{value!r} is not a kernel version (x.y or x.y.z)")
    return value


def choice(key: str, value: Any, allowed: tuple[str, ...]) -> str:
    s = string(key, value)
    if s not in allowed:
        raise ConfigError(key, f"{s!r} is not allowed (one of: {', '.join(allowed)})")
    return s


def make_var(key: str, value: str) -> str:
    if not _MAKEVAR_RE.match(value):
        raise ConfigError(key, f"{value!r} is not a make.conf variable name (A-Z, 0-9, _)")
    return value


def no_unknown(key: str, table: dict[str, Any], known: tuple[str, ...]) -> None:
    for k in table:
        if k not in known:
            where = f"{key}.{k}" if key else k
            raise ConfigError(where, f"unknown key (allowed: {', '.join(known)})")
