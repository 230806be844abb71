"""URL converters: path parameters are built with provision.names' typed constructors, so a
route only ever sees a valid name, and a path parameter that does not fit answers 404.

    <mac:mac>            Mac (any common spelling in the URL, canonical in the view)
    <profile:name>       ProfileName
    <snapshot:sid>       SnapshotId
    <order_id:n>         OrderId (1 .. 2**63-1)
    <token:t>            an unguessable token from a link (URL-safe base64, 16-128 characters)
    <relpath:p>          a relative path inside a served directory: segments of printable
                         characters, no '.', '..', NUL or control characters, no segment over
                         255 bytes, at most 16 segments and 1024 characters
"""

from __future__ import annotations

import re
from typing import Any

from werkzeug.routing import BaseConverter, Map, ValidationError

from provision.errors import ConfigError
from provision.names import (
    MAC_PATTERN,
    ORDER_ID_PATTERN,
    PROFILE_PATTERN,
    SNAPSHOT_PATTERN,
    Mac,
    OrderId,
    ProfileName,
    SnapshotId,
)

TOKEN_PATTERN = r"[A-Za-z0-9_-]{16,128}"
TOKEN_RE = re.compile(rf"{TOKEN_PATTERN}\Z")
PATH_MAX = 1024
SEGMENT_MAX = 255
DEPTH_MAX = 16
_SEGMENT_BAD = re.compile(r"[\x00-\x1f\x7f\\]")


class _NameConverter(BaseConverter):
    """Matches the name's pattern (so another spelling matches no route: 404, never a 405 from
    a sibling route); to_python builds the name, or raises ValidationError (no match)."""

    regex = "[^/]{1,256}"

    def build(self, value: str) -> Any:
        raise NotImplementedError

    def to_python(self, value: str) -> Any:
        try:
            return self.build(value)
        except ConfigError:
            raise ValidationError() from None

    def to_url(self, value: Any) -> str:
        return super().to_url(str(value))


class MacConverter(_NameConverter):
    regex = MAC_PATTERN

    def build(self, value: str) -> Any:
        return Mac(value)


class ProfileConverter(_NameConverter):
    regex = PROFILE_PATTERN

    def build(self, value: str) -> Any:
        return ProfileName(value)


class SnapshotConverter(_NameConverter):
    regex = SNAPSHOT_PATTERN

    def build(self, value: str) -> Any:
        return SnapshotId(value)


class OrderIdConverter(_NameConverter):
    regex = ORDER_ID_PATTERN

    def build(self, value: str) -> Any:
        return OrderId(value)


def check_token(value: str) -> str:
    if not TOKEN_RE.match(value):
        raise ConfigError("token", "not a token")
    return value


class TokenConverter(_NameConverter):
    regex = TOKEN_PATTERN

    def build(self, value: str) -> Any:
        return check_token(value)


def check_relpath(value: str) -> str:
    """A relative path that stays inside the directory it is joined to (pure check)."""
    if len(value) > PATH_MAX:
        raise ConfigError("path", "too long")
    segments = value.split("/")
    if len(segments) > DEPTH_MAX:
        raise ConfigError("path", "too deep")
    for seg in segments:
        if seg in ("", ".", "..") or _SEGMENT_BAD.search(seg):
            raise ConfigError("path", f"{seg[:40]!r} is not allowed in a path")
        if len(seg.encode("utf-8", "surrogateescape")) > SEGMENT_MAX:
            raise ConfigError("path", "a path segment is longer than 255 bytes")
    return value


class RelPathConverter(_NameConverter):
    regex = "[^/].*?"
    part_isolating = False
    weight = 200

    def build(self, value: str) -> Any:
        return check_relpath(value)


CONVERTERS: dict[str, type[BaseConverter]] = {
    "mac": MacConverter,
    "profile": ProfileConverter,
    "snapshot": SnapshotConverter,
    "order_id": OrderIdConverter,
    "token": TokenConverter,
    "relpath": RelPathConverter,
}


def install(url_map: Map) -> None:
    url_map.converters.update(CONVERTERS)
