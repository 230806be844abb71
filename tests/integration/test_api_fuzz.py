"""Schemathesis against the live server: every operation of /api/v1/openapi.json, with no
credentials, an admin token and a host token; zero 5xx, and every answer conforms to the
description (status code, content type, headers, body schema).

`provision serve` runs on loopback (granian, a fresh data dir, the example profiles, a host
with a profile); the schema is read from the running server.  One test per operation: first
schemathesis' coverage cases (boundary values such as maximum + 1, wrong types, missing and
unexpected parts, other methods), then random data that fits the description and data that
does not (positive and negative generation).  Random examples per operation are bounded
(FUZZ_EXAMPLES, default 50) to keep the run near a minute.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import CheckFunction, not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from provision.server import apispec
from tests.integration.serve_fixture import (
    Server,
    admin_token,
    host_token,
    server_data,
    start_serve,
)

pytestmark = pytest.mark.integration
PASSWORD = "fuzz-admin-password"
MAC = "52:54:00:12:34:56"  # the example MAC of the description: host-token calls use it
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "50"))
FUZZ_SETTINGS = 'power_networks = ["127.0.0.0/8"]\n'
CHECKS: list[CheckFunction] = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@dataclass
class Live:
    server: Server
    password_hash: str

    def headers(self, who: str) -> dict[str, str]:
        """Credentials for one call, fresh each time: a call may delete the host or revoke
        every admin token (DELETE /hosts/MAC, POST /auth/logout-all)."""
        data = self.server.data
        if who == "admin":
            return {"Authorization": f"Bearer {admin_token(data, self.password_hash)}"}
        if who == "host":
            return {"Authorization": f"Bearer {host_token(data, MAC, 'server-amd64')}"}
        return {}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    data = tmp_path_factory.mktemp("fuzz") / "data"
    # power control may only reach loopback: a fuzzed BMC address or broadcast never leaves
    pw_hash = server_data(data, PASSWORD, fast_hash=True, extra=FUZZ_SETTINGS)
    server = start_serve(data, "--threads", "4")
    yield Live(server, pw_hash)
    rc = server.stop()
    log = "".join(server.output)
    assert rc == 0, log
    assert "Traceback" not in log, log  # no request made the server fail


@pytest.fixture(scope="module")
def api_schema(live: Live) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{live.server.url}/api/v1/openapi.json")


def operations() -> list[str]:
    """ "METHOD /path" of every operation the packaged description has (the served one is the
    same document: tests/unit/test_server_api.py)."""
    paths = apispec.spec()["paths"]  # openapi.json and openapi_fleet.json
    return [f"{m.upper()} {p}" for p, item in paths.items() for m in item if m != "parameters"]


@pytest.mark.parametrize("label", operations())
def test_api_conforms_to_its_description(
    api_schema: schemathesis.BaseSchema, live: Live, label: str
) -> None:
    method, path = label.split(" ", 1)
    operation = api_schema[path][method]
    config = api_schema.config.generation_for(operation=operation)
    modes = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
    for case in api_schema.iter_coverage_cases(
        operation, generation_modes=modes, generation_config=config
    ):
        # a method the description does not have for this path: only "no 5xx" applies
        only_5xx: list[CheckFunction] = [not_a_server_error]
        checks = CHECKS if case.method.upper() == method else only_5xx
        for who in ("anonymous", "admin", "host"):
            case.call_and_validate(headers=live.headers(who), checks=checks, timeout=30)
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )

    @given(case=cases)
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
    )
    def calls(case: schemathesis.Case[Any]) -> None:
        for who in ("anonymous", "admin", "host"):
            case.call_and_validate(headers=live.headers(who), checks=CHECKS, timeout=30)

    calls()
