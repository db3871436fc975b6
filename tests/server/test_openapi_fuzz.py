"""Fuzz every operation of ``/api/v1/openapi.json`` against a live server.

schemathesis generates requests from the OpenAPI description (valid ones and
deliberately invalid ones) and checks each answer: never a 5xx, and every
status, content type and body as the description says. So this test holds
the server to its description, and the description to the server.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, assume, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.core.failures import FailureGroup
from schemathesis.generation import GenerationMode
from schemathesis.schemas import BaseSchema
from schemathesis.specs.openapi.checks import positive_data_acceptance
from tests.contracts.rest_backend import ThreadedServer, fresh_services, threaded_server

from moorline.server.app import create_app

pytestmark = pytest.mark.slow

#: Examples per operation: with ~90 operations this keeps the run near a minute on 2 cores.
EXAMPLES = 12


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    services = fresh_services(tmp_path_factory.mktemp("fuzz"))
    # Some records to find, so not every generated id is a miss.
    eid = services.tracking.create_experiment("fuzzed")
    run = services.tracking.create_run(eid, run_name="fuzz-run")
    services.tracking.log_metric(run.run_id, "loss", 0.5)
    server: ThreadedServer
    with threaded_server() as server, server.serving(create_app(services, auth_required=False)):
        yield f"{server.url}/api/v1"
    services.close()


@pytest.fixture(scope="module")
def api_schema(base_url: str) -> BaseSchema:
    return schemathesis.openapi.from_url(f"{base_url}/openapi.json")


# schemathesis's pytest integration (from_fixture) does not run on pytest 9, and the
# eager one needs the description at import time; so each operation gets its own
# Hypothesis test here, and every failure is reported with the operation's name.
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_api_v1_conforms_to_its_description(
    api_schema: BaseSchema, base_url: str, mode: GenerationMode
) -> None:
    failures: list[str] = []
    operations = 0
    for result in api_schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: schemathesis.Case) -> None:
            # A newline in the path never reaches /api/v1: the outer application's
            # Mount does not match it (its pattern's '.' stops at a newline).
            # (schemathesis holds path parameters percent-encoded.)
            values = (case.path_parameters or {}).values()
            assume(not any("\n" in urllib.parse.unquote(str(v)) for v in values))
            # Schema-valid is not always acceptable: the service's rules (key characters,
            # the filter grammar, ids that exist) go beyond what OpenAPI can say, and
            # they answer 400/404 in our documented shape, which the other checks verify.
            case.call_and_validate(base_url=base_url, excluded_checks=[positive_data_acceptance])

        try:
            check()
        except Unsatisfiable:
            # Nothing in this operation can be made schema-invalid (only free-form
            # strings, for instance): there is no negative case to send.
            if mode is GenerationMode.NEGATIVE:
                continue
            raise
        except (Exception, FailureGroup) as exc:
            failures.append(f"{operation.label}:\n{exc}")
    assert operations >= 30, f"only {operations} operations found in the description"
    assert not failures, f"{len(failures)} operation(s) failed:\n\n" + "\n\n".join(failures)


def test_openapi_is_served_with_docs(base_url: str) -> None:
    spec = httpx.get(f"{base_url}/openapi.json").json()
    assert spec["info"]["title"] == "moorline API"
    assert "/runs/{run_id}/metrics/{key}/history" in spec["paths"]
    operation = spec["paths"]["/runs/search"]["post"]
    assert operation["operationId"] == "search_runs"
    assert set(operation["responses"]) >= {"200", "400", "401", "403", "404", "500"}
    assert operation["responses"]["404"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorBody"
    }
    docs = httpx.get(f"{base_url}/docs")
    assert docs.status_code == 200
    assert "/api/v1/openapi.json" in docs.text


def test_description_documents_the_nan_encoding(base_url: str) -> None:
    spec = httpx.get(f"{base_url}/openapi.json").json()
    value = spec["components"]["schemas"]["Metric"]["properties"]["value"]
    assert {"type": "number"} in value["anyOf"]
    assert {"type": "string", "enum": ["NaN", "Infinity", "-Infinity"]} in value["anyOf"]
    assert "NaN" in value["description"]
