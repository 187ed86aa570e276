"""Schemathesis against the served OpenAPI document: no input makes the server fail.

Generated requests, valid and invalid, hit a real uvicorn serving a populated fleet, with an
admin token so every operation is reachable. Each operation gets a bounded, derandomized run
(10 valid and 10 invalid examples), a few hundred requests in all; the same on a fleet
stored in PostgreSQL with 5 each.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
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

from sealmeter.headend import BoxKeys
from sealmeter.store import drop_schema, open_engine
from sealmeter.web import Role, create_app, serve_in_thread
from tests.conftest import reachable_postgres_url
from tests.web.conftest import WebEnv, populate, web_env

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


def _check_operation(
    env: WebEnv, base: str, label: str, mode: GenerationMode, examples: int
) -> None:
    """Run `examples` derandomized generated requests of one operation against `base`."""
    document = schemathesis.openapi.from_url(f"{base}/openapi.json")
    operation = document.find_operation_by_label(label)
    assert operation is not None
    headers = {"Authorization": f"Bearer {env.token[Role.ADMIN]}"}

    @given(case=operation.as_strategy(mode))
    @settings(
        max_examples=examples,
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


@pytest.mark.parametrize(("label", "mode"), RUNS)
def test_no_generated_request_makes_the_server_fail(
    live_fleet: tuple[WebEnv, str], label: str, mode: GenerationMode
) -> None:
    env, base = live_fleet
    _check_operation(env, base, label, mode, examples=10)


@pytest.fixture(scope="module")
def live_pg_fleet(
    tmp_path_factory: pytest.TempPathFactory, box_keys: BoxKeys
) -> Iterator[tuple[WebEnv, str]]:
    """A populated fleet on PostgreSQL (a schema of its own) served by a real uvicorn."""
    url = reachable_postgres_url()  # module-scoped: the function-scoped fixture cannot serve
    schema = f"schemathesis_{uuid.uuid4().hex[:12]}"
    try:
        with web_env(tmp_path_factory.mktemp("pg"), box_keys, url=url, schema=schema) as env:
            populate(env)
            with serve_in_thread(env.app) as base:
                yield env, base
    finally:
        engine = open_engine(url)
        drop_schema(engine, schema)
        engine.dispose()


@pytest.mark.service
@pytest.mark.parametrize(("label", "mode"), RUNS)
def test_no_generated_request_makes_the_postgresql_server_fail(
    live_pg_fleet: tuple[WebEnv, str], label: str, mode: GenerationMode
) -> None:
    # PostgreSQL refuses what SQLite keeps (a NUL, an over-long id), so the scale-out store
    # gets its own (shorter) run; test_postgres.py walks every parameter with a NUL directly
    env, base = live_pg_fleet
    _check_operation(env, base, label, mode, examples=5)
