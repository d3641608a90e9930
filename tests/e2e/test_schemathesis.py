"""Property-based fuzzing of the live API from its own OpenAPI schema (schemathesis): valid and
invalid requests for every operation, and not one may be a 5xx. Bad input must always be the
client's 4xx, so a 500 here is a bug in the server, not in the test.

Hypothesis drives ``operation.as_strategy`` directly rather than schemathesis' pytest plugin,
whose fixture-backed schemas (``from_fixture``) break on pytest 9 (``Function._nodeid``)."""

import asyncio

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from academy.inprocess import BackgroundServer
from academy.runtime import Runtime
from academy.server import create_app
from tests.factories import make_config

# Per operation and mode; bounded so the whole file stays well under a minute on 2 busy cores.
MAX_EXAMPLES = 40
BOUNDED = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory, embedder, tiny_student_dir):
    """The schema as the running server publishes it, so the fuzzer sees what clients see."""
    cfg = make_config(tmp_path_factory.mktemp("home"), tiny_student_dir)
    runtime = Runtime.build(cfg, embedder=embedder)
    with BackgroundServer(create_app(cfg, runtime)) as srv:
        yield schemathesis.openapi.from_url(f"http://127.0.0.1:{srv.port}/openapi.json")
    asyncio.run(runtime.aclose(close_embedder=False))


def operations(schema) -> list:
    found = [result.ok() for result in schema.get_all_operations()]
    assert {f"{op.method.upper()} {op.path}" for op in found} >= {"POST /v1/chat/completions"}
    return found


def takes_input(operation) -> bool:
    return bool(list(operation.iter_parameters())) or bool(list(operation.body))


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_request_is_a_server_error(api_schema, mode):
    fuzzed = []
    for operation in operations(api_schema):
        if mode.is_negative and not takes_input(operation):
            continue  # nothing to get wrong: no invalid request exists

        @BOUNDED
        @given(case=operation.as_strategy(generation_mode=mode))
        def call(case) -> None:
            case.call_and_validate(checks=[not_a_server_error], timeout=60)

        try:
            call()
        except Unsatisfiable:
            # only optional free-text parameters (e.g. ?tenant=): every string is valid, so the
            # negative mode cannot build an invalid request for this operation
            assert mode.is_negative, f"{operation.method} {operation.path}: no valid request generated"
            continue
        fuzzed.append(f"{operation.method.upper()} {operation.path}")
    assert "POST /v1/chat/completions" in fuzzed
