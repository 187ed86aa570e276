"""Schemathesis against the served OpenAPI document: no input makes the server fail.

Generated requests, valid and invalid, hit a real uvicorn serving a populated fleet, with an
admin token so every operation is reachable. Each operation gets a bounded, derandomized run
(10 valid and 10 invalid examples), a few hundred requests in all.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from sealmeter.web import Role, create_app
from tests.web.conftest import WebEnv

_ANY_BYTES = {"type": "string", "format": "binary"}


def _has_structured_body(spec: dict[str, Any]) -> bool:
    """Whether the operation takes a body that some generated data could violate."""
    content = spec.get("requestBody", {}).get("content", {})
    return any(media.get("schema") != _ANY_BYTES for media in content.values())


def _runs() -> list[tuple[str, GenerationMode]]:
    """(operation, mode) for every operation of the app's own OpenAPI document.

    Every operation gets valid data; those that take parameters or a structured body also get
    invalid data. An operation without inputs has no invalid form, and neither has one whose
    only input is a body of arbitrary bytes (the meters' uplink door: any bytes are a
    well-formed request, answered by the head-end; its media-type and size refusals are tested
    in tests/transport/test_http.py).
    """
    app = create_app(None, None, fleet_states=lambda _meters, _now: {})  # type: ignore[arg-type]
    doc = app.openapi()
    runs = []
    for path, methods in doc["paths"].items():
        for method, spec in methods.items():
            label = f"{method.upper()} {path}"
            runs.append((label, GenerationMode.POSITIVE))
            if spec.get("parameters") or _has_structured_body(spec):
                runs.append((label, GenerationMode.NEGATIVE))
    return sorted(runs, key=lambda r: (r[0], r[1].value))


RUNS = _runs()
LABELS = sorted({label for label, _ in RUNS})


def test_the_api_has_the_operations_the_issue_names() -> None:
    paths = " ".join(LABELS)
    for resource in ("meters", "registrations", "bills", "alerts", "schedules", "enable-codes"):
        assert f"/v1/{resource}" in paths
    for resource in ("health", "metrics", "uplink", "tokens", "fleet", "rejections"):
        assert f"/v1/{resource}" in paths


@pytest.mark.parametrize(("label", "mode"), RUNS)
def test_no_generated_request_makes_the_server_fail(
    live_fleet: tuple[WebEnv, str], label: str, mode: GenerationMode
) -> None:
    env, base = live_fleet
    document = schemathesis.openapi.from_url(f"{base}/openapi.json")
    operation = document.find_operation_by_label(label)
    assert operation is not None
    headers = {"Authorization": f"Bearer {env.token[Role.ADMIN]}"}

    @given(case=operation.as_strategy(mode))
    @settings(
        max_examples=10,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        case.call_and_validate(
            base_url=base,
            headers=headers,
            checks=[
                not_a_server_error,
                status_code_conformance,
                content_type_conformance,
                response_schema_conformance,
            ],
        )

    run()
