"""Bounded requests: every limit on what a client may send, in one place.

- Bodies: a global cap (Flask `MAX_CONTENT_LENGTH`, the HTTP server's BodyCap, both from
  `max_body_bytes` in server.toml) and smaller caps per route (`body_limit(n)`); forms have
  their own memory and part caps.  Too large: 413.
- JSON (`BoundedJSONProvider`, the app's JSON loader): nesting at most `JSON_MAX_DEPTH`, no
  NaN/Infinity, no number that overflows to infinity, integers of at most `JSON_MAX_DIGITS`
  digits.  Anything else is a parse error, which Flask answers with 400 (or `get_json(silent=
  True)` turns into None).
- Fields: `text_field`, `number_field`, `int_arg` check type, length and range and raise
  ConfigError (400) naming the field.

Every limit is listed in docs/server.md ("Security").
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any, ParamSpec, TypeVar

from flask import request
from flask.json.provider import DefaultJSONProvider

from provision.errors import ConfigError

P = ParamSpec("P")
R = TypeVar("R")

FORM_MAX_MEMORY = 64 << 10  # bytes of form fields kept in memory
FORM_MAX_PARTS = 100  # fields in one form
LOGIN_BODY_BYTES = 4 << 10  # POST /login, POST /api/v1/auth/token
EVENT_BODY_BYTES = 64 << 10  # POST /api/v1/hosts/MAC/events
JSON_MAX_DEPTH = 32  # nested arrays/objects
JSON_MAX_DIGITS = 19  # digits of a JSON integer (|n| < 10**19)
PASSWORD_MAX = 1024
EVENT_STEP_MAX = 128
EVENT_MESSAGE_MAX = 4096
EVENT_LOG_TAIL_MAX = 64 << 10  # accepted; the store keeps the last 8 KiB
EVENT_ADDRESSES_MAX = 16
REASON_MAX = 500  # a hold reason
NEXT_MAX = 2048  # /login?next=
QUERY_INT_DIGITS = 18

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(r"[\[\]{}]")


def json_depth(text: str) -> int:
    """The deepest nesting of arrays/objects in a JSON text (strings skipped); linear time."""
    depth = deepest = 0
    for m in _BRACKET.finditer(_STRING.sub('""', text)):
        if m.group() in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in JSON")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:40]} is out of range")
    return value


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > JSON_MAX_DIGITS:
        raise ValueError(f"integer {text[:40]}... has more than {JSON_MAX_DIGITS} digits")
    return int(text)


_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _check_strings(value: Any) -> None:
    """Refuse lone surrogates (\\ud800 escapes): they cannot be stored or sent as UTF-8."""
    todo = [value]
    while todo:
        item = todo.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                raise ValueError("a JSON string holds an unpaired surrogate (\\ud800-\\udfff)")
        elif isinstance(item, dict):
            todo.extend(item.keys())
            todo.extend(item.values())
        elif isinstance(item, list):
            todo.extend(item)


def loads_bounded(data: str | bytes) -> Any:
    """json.loads within the limits above; ValueError (JSONDecodeError included) otherwise."""
    text = data.decode("utf-8") if isinstance(data, (bytes, bytearray)) else data
    if json_depth(text) > JSON_MAX_DEPTH:
        raise ValueError(f"JSON nested deeper than {JSON_MAX_DEPTH} levels")
    try:
        value = json.loads(
            text,
            parse_constant=_no_constant,
            parse_float=_finite,
            parse_int=_bounded_int,
        )
    except RecursionError as exc:  # cannot happen after the depth check; never a 500
        raise ValueError("JSON nested too deeply") from exc
    _check_strings(value)
    return value


class BoundedJSONProvider(DefaultJSONProvider):
    """The app's JSON: dumps as Flask does, loads within the limits (request.get_json)."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            return loads_bounded(s)
        except UnicodeDecodeError as exc:
            raise ValueError("request body is not UTF-8") from exc


def body_limit(limit: int) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """A smaller body cap for one view (put it right under the route decorator)."""

    def decorate(view: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(view)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            request.max_content_length = limit
            return view(*args, **kwargs)

        return wrapper

    return decorate


# --- fields ------------------------------------------------------------------------------------
def text_field(
    data: Mapping[str, Any], key: str, limit: int, *, required: bool = False, default: str = ""
) -> str:
    """A string field of at most `limit` characters (absent/null: default, or 400 if required)."""
    value = data.get(key)
    if value is None:
        if required:
            raise ConfigError(key, "required")
        return default
    if not isinstance(value, str):
        raise ConfigError(key, "expected a string")
    if len(value) > limit:
        raise ConfigError(key, f"longer than {limit} characters")
    return value


def number_field(data: Mapping[str, Any], key: str, low: float, high: float) -> float | None:
    """A finite number in [low, high], or None when absent/null."""
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(key, "expected a number")
    if not (math.isfinite(value) and low <= value <= high):
        raise ConfigError(key, f"expected a number from {low:g} to {high:g}")
    return float(value)


def int_arg(name: str, default: int, low: int = 0, high: int = 2**62) -> int:
    """An integer query argument (?name=N) in [low, high]; 400 otherwise."""
    text = request.args.get(name)
    if text is None or text == "":
        return default
    if not re.fullmatch(rf"[0-9]{{1,{QUERY_INT_DIGITS}}}", text) or not low <= int(text) <= high:
        raise ConfigError(name, f"expected an integer from {low} to {high}")
    return int(text)
