"""The OpenAPI description the server serves: openapi.json plus the fleet's part
(openapi_fleet.json: inventory, rules, power), merged path by path."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

PARTS = ("openapi.json", "openapi_fleet.json")


def spec() -> dict[str, Any]:
    base: dict[str, Any] = {}
    for name in PARTS:
        doc = json.loads(resources.files("provision.server").joinpath(name).read_text())
        if not base:
            base = doc
            continue
        base.setdefault("paths", {}).update(doc.get("paths", {}))
        schemas = base.setdefault("components", {}).setdefault("schemas", {})
        schemas.update(doc.get("components", {}).get("schemas", {}))
    return base


def spec_text() -> str:
    return json.dumps(spec(), indent=1) + "\n"
