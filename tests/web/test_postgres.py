"""The same API over the PostgreSQL store (a schema of its own per test, dropped afterwards)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest

from sealmeter.headend import BoxKeys
from sealmeter.store import NotFound, StoreUsageError, drop_schema, open_engine
from sealmeter.web import Role
from tests.web.conftest import T0, WebEnv, populate, web_env
from tests.web.helpers import assert_error, nul_requests, walk

pytestmark = pytest.mark.service


@pytest.fixture
def pg_fleet(postgres_url: str, tmp_path: Path, box_keys: BoxKeys) -> Iterator[WebEnv]:
    """A populated fleet on PostgreSQL in a fresh schema."""
    schema = f"web_{uuid.uuid4().hex[:12]}"
    try:
        with web_env(tmp_path, box_keys, url=postgres_url, schema=schema) as env:
            yield populate(env)
    finally:
        engine = open_engine(postgres_url)
        drop_schema(engine, schema)
        engine.dispose()


def test_the_api_answers_the_same_on_postgresql(pg_fleet: WebEnv) -> None:
    reader = pg_fleet.auth()
    assert pg_fleet.client.get("/v1/health").json()["store"] == "postgresql"
    counts = pg_fleet.client.get("/v1/fleet", headers=reader).json()["counts"]
    assert (counts["reporting"], counts["silent"], counts["blocked"], counts["tampered"]) == (
        2,
        1,
        1,
        1,
    )
    regs = walk(pg_fleet.client, "/v1/registrations", reader, 9)
    assert len({(r["meter_id"], r["seq"]) for r in regs}) == len(regs) == 47
    start, end = T0 - timedelta(days=1), T0 + timedelta(days=30)
    bill = pg_fleet.client.get(
        f"/v1/bills/cust-a?start={quote(start.isoformat())}&end={quote(end.isoformat())}",
        headers=reader,
    ).json()
    assert bill["registrations"] == 20
    assert bill["mismatches"] == 1
    assert_error(pg_fleet.client.get("/v1/meters/nope", headers=reader), 404, "not_found")
    made = pg_fleet.client.post(
        "/v1/tokens", json={"name": "pg", "role": "operator"}, headers=pg_fleet.auth(Role.ADMIN)
    )
    token = {"Authorization": f"Bearer {made.json()['token']}"}
    blocked = pg_fleet.client.post("/v1/meters/m-ok/block", json={"reason": "x"}, headers=token)
    assert blocked.json()["fleet_state"] == "blocked"


def test_a_nul_in_any_parameter_is_a_422_not_a_server_error(pg_fleet: WebEnv) -> None:
    # PostgreSQL text cannot hold a NUL: before, such an id, filter or cursor was a 500
    admin = pg_fleet.auth(Role.ADMIN)
    cases = nul_requests(pg_fleet.client.get("/openapi.json").json(), "m-ok")
    assert len(cases) > 10
    for method, url, location in cases:
        body = assert_error(
            pg_fleet.client.request(method, url, headers=admin), 422, "invalid_request"
        )
        where = "path" if location.startswith("path.") else location
        assert body["fields"] == [{"location": where, "problem": "holds a NUL character"}], url


def test_the_store_refuses_what_postgresql_cannot_take_with_a_typed_error(
    pg_fleet: WebEnv,
) -> None:
    # past the API (the CLI, a script): the store names the input as the fault, typed
    store = pg_fleet.headend.store
    with pytest.raises(StoreUsageError, match="NUL"):
        store.get_meter("a\x00b")
    with pytest.raises(StoreUsageError, match="fix the input"):
        store.list_schedules("s" * 65 + "\x00")
    with pytest.raises(NotFound):
        store.get_meter("x" * 65)  # only compared, never written: simply no such meter
