"""Fuzz the whole OpenAPI surface with schemathesis: whatever arrives, never a 5xx, and every
answer matches the response schema its operation declares (verify_api/schemas.py).

Runs against its own deployment (agreements the fuzzer manages to create must not change the
answers other tests expect), once with a client holding every role and once without
credentials.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.specs.openapi.checks import response_schema_conformance

from certificates.home import Home
from certificates.sharing.clients import ClientRegistry
from signing import Secret
from verify_api.app import create_app
from verify_api.bootstrap import init_home
from verify_api.runtime import open_runtime

from .conftest import NO_LIMITS, PASSPHRASE, SECRETS

_STATE: dict[str, Any] = {}


@pytest.fixture(scope="module")
def fuzz_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    home = Home(Path(tmp_path_factory.mktemp("fuzz") / "home"))
    init_home(home, Secret(PASSPHRASE), base_url="http://testserver")
    rt = open_runtime(home, passphrase=Secret(PASSPHRASE))
    _, token = ClientRegistry(rt.store).add(
        "market-regulation", "fuzzer", ["issuer", "verifier", "admin"]
    )
    assert token is not None
    SECRETS.append(token)
    _STATE["token"] = token
    app = create_app(rt, background_anchoring=False, limits=NO_LIMITS)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    yield schema
    rt.close()


def _no_server_error(case: Any, headers: dict[str, str]) -> None:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
        response = case.call(headers=headers)
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:300]}"
    )
    # The body against the declared schema of its status code (raises on a mismatch).
    case.validate_response(response, checks=[response_schema_conformance], headers=headers)


def _fuzz(schema: Any, headers: dict[str, str], examples: int) -> int:
    """Every operation but the TSA (raw DER, fuzzed by its own suite); returns how many."""
    count = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path == "/tsa":
            continue

        @given(case=operation.as_strategy())
        @settings(
            max_examples=examples,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
            phases=[Phase.explicit, Phase.generate],
        )
        def run(case: Any) -> None:
            _no_server_error(case, headers)

        run()
        count += 1
    return count


def test_no_server_errors_with_every_role(fuzz_schema: Any) -> None:
    n = _fuzz(fuzz_schema, {"Authorization": f"Bearer {_STATE['token']}"}, 15)
    assert n >= 15  # every route of the API was exercised


def test_no_server_errors_anonymous(fuzz_schema: Any) -> None:
    assert _fuzz(fuzz_schema, {}, 8) >= 15


def test_json_routes_declare_their_response_schemas(fuzz_schema: Any) -> None:
    """Every JSON route has a response schema for its success and one error body for its
    refusals."""
    for result in fuzz_schema.get_all_operations():
        operation = result.ok()
        if not operation.path.startswith("/api/"):
            continue
        responses = operation.definition.raw["responses"]
        assert "422" in responses and "404" in responses, operation.path
        error = responses["404"]["content"]["application/json"]["schema"]
        assert error == {"$ref": "#/components/schemas/ErrorBody"}, operation.path
        if operation.path.endswith("/pdf"):
            continue
        ok = next(v for k, v in responses.items() if k.startswith("2"))
        assert "schema" in ok["content"]["application/json"], operation.path
