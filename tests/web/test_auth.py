"""Operator authentication: tokens, roles, revocation, hashing at rest."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from sealmeter.web import Role, TokenError, TokenStore, Unauthenticated
from tests.web.conftest import T0, WebEnv
from tests.web.helpers import assert_error

PROVISION = {
    "meter_id": "m-new",
    "customer_ref": "c-new",
    "suite": "ec-modern",
    "public_keys_hex": "00",
    "chain_key_hex": "00",
}

# (method, path, json body, weakest role allowed)
ROUTES: list[tuple[str, str, dict[str, object] | None, Role]] = [
    ("GET", "/v1/meters", None, Role.READ_ONLY),
    ("GET", "/v1/fleet", None, Role.READ_ONLY),
    ("GET", "/v1/registrations", None, Role.READ_ONLY),
    ("GET", "/v1/alerts", None, Role.READ_ONLY),
    ("GET", "/v1/rejections", None, Role.READ_ONLY),
    ("GET", "/v1/enable-codes", None, Role.READ_ONLY),
    ("GET", "/v1/schedules", None, Role.READ_ONLY),
    ("GET", "/v1/bills?start=2026-03-01T00:00:00Z&end=2026-04-01T00:00:00Z", None, Role.READ_ONLY),
    ("GET", "/v1/metrics", None, Role.READ_ONLY),
    ("POST", "/v1/meters", PROVISION, Role.OPERATOR),
    ("POST", "/v1/meters/m-none/block", {"reason": "x"}, Role.OPERATOR),
    ("POST", "/v1/meters/m-none/unblock", None, Role.OPERATOR),
    ("POST", "/v1/alerts/999/acknowledge", None, Role.OPERATOR),
    ("POST", "/v1/schedules", {"document": "{}"}, Role.OPERATOR),
    ("POST", "/v1/meters/m-none/decommission", None, Role.ADMIN),
    ("GET", "/v1/tokens", None, Role.ADMIN),
    ("POST", "/v1/tokens", {"name": "n", "role": "read-only"}, Role.ADMIN),
    ("DELETE", "/v1/tokens/00000000", None, Role.ADMIN),
]


@pytest.mark.parametrize(("method", "path", "body", "needed"), ROUTES)
def test_every_operator_route_needs_a_token(
    shared_env: WebEnv, method: str, path: str, body: dict[str, object] | None, needed: Role
) -> None:
    assert_error(shared_env.client.request(method, path, json=body), 401, "unauthenticated")
    bad = {"Authorization": "Bearer smt_000000000000_nope"}
    assert_error(
        shared_env.client.request(method, path, json=body, headers=bad), 401, "unauthenticated"
    )


@pytest.mark.parametrize(("method", "path", "body", "needed"), ROUTES)
@pytest.mark.parametrize("role", list(Role))
def test_roles_are_ordered_read_only_operator_admin(
    shared_env: WebEnv,
    method: str,
    path: str,
    body: dict[str, object] | None,
    needed: Role,
    role: Role,
) -> None:
    response = shared_env.client.request(method, path, json=body, headers=shared_env.auth(role))
    if role.allows(needed):
        assert response.status_code not in (401, 403), response.text
    else:
        detail = assert_error(response, 403, "forbidden")["detail"]
        assert needed.value in detail
        assert role.value in detail


def test_401_names_the_scheme_and_how_to_get_a_token(shared_env: WebEnv) -> None:
    response = shared_env.client.get("/v1/meters")
    assert response.headers["www-authenticate"] == "Bearer"
    assert "sealmeter token create" in response.json()["detail"]


def test_admin_issues_a_token_that_works_and_revoking_it_locks_it_out(env: WebEnv) -> None:
    made = env.client.post(
        "/v1/tokens", json={"name": "grafana", "role": "read-only"}, headers=env.auth(Role.ADMIN)
    )
    assert made.status_code == 201, made.text
    secret = made.json()["token"]
    token_id = made.json()["token_id"]
    mine = {"Authorization": f"Bearer {secret}"}
    assert env.client.get("/v1/fleet", headers=mine).status_code == 200
    listed = env.client.get("/v1/tokens", headers=env.auth(Role.ADMIN)).json()
    assert token_id in [t["token_id"] for t in listed]
    assert all("token" not in t for t in listed), "secrets are never listed"
    gone = env.client.delete(f"/v1/tokens/{token_id}", headers=env.auth(Role.ADMIN))
    assert gone.status_code == 200
    assert gone.json()["revoked_at"] is not None
    assert (
        "revoked"
        in assert_error(env.client.get("/v1/fleet", headers=mine), 401, "unauthenticated")["detail"]
    )
    assert_error(
        env.client.delete("/v1/tokens/abcdef012345", headers=env.auth(Role.ADMIN)), 404, "not_found"
    )


def test_bad_token_requests_are_422(env: WebEnv) -> None:
    admin = env.auth(Role.ADMIN)
    assert_error(
        env.client.post("/v1/tokens", json={"name": "x", "role": "root"}, headers=admin),
        422,
        "invalid_request",
    )
    assert_error(
        env.client.post("/v1/tokens", json={"name": "", "role": "admin"}, headers=admin),
        422,
        "invalid_request",
    )


def test_tokens_are_stored_only_as_hashes(env: WebEnv, tmp_path: Path) -> None:
    with env.headend.store.engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM web_tokens")).mappings().all()
    assert len(rows) == len(Role)
    stored = " ".join(str(v) for row in rows for v in row.values())
    for token in env.token.values():
        secret = token.split("_", 2)[2]
        assert secret not in stored
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("headend.db*"))
    for token in env.token.values():
        assert token.split("_", 2)[2].encode() not in raw


def test_token_store_rejects_misuse(env: WebEnv) -> None:
    with pytest.raises(TokenError, match="name"):
        env.tokens.create("  ", Role.ADMIN, T0)
    with pytest.raises(TokenError, match="unknown role"):
        Role.parse("superuser")
    with pytest.raises(TokenError, match="no API token"):
        env.tokens.revoke("ffffffffffff", T0)
    assert env.tokens.count_active() == len(Role)
    first = env.tokens.list()[0]
    env.tokens.revoke(first.token_id, T0 + timedelta(hours=1))
    assert env.tokens.count_active() == len(Role) - 1
    assert first.token_id not in [t.token_id for t in env.tokens.list()]
    assert first.token_id in [t.token_id for t in env.tokens.list(include_revoked=True)]


@settings(max_examples=200, deadline=None)
@given(garbage=st.text(max_size=120))
def test_garbage_tokens_are_refused_with_a_typed_error(garbage: str) -> None:
    with pytest.raises(Unauthenticated):
        _memory_store().verify(garbage)
    with pytest.raises(Unauthenticated):
        _memory_store().verify("smt_" + garbage)


_STORE: list[TokenStore] = []


def _memory_store() -> TokenStore:
    if not _STORE:
        from sqlalchemy import create_engine
        from sqlalchemy.pool import StaticPool

        engine = create_engine(
            "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
        )
        store = TokenStore(engine)
        store.create("someone", Role.ADMIN, T0)
        _STORE.append(store)
    return _STORE[0]


def test_a_token_with_a_tampered_secret_is_refused(env: WebEnv) -> None:
    token = env.token[Role.ADMIN]
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    with pytest.raises(Unauthenticated, match="unknown API token"):
        env.tokens.verify(flipped)
    other_id = token.replace(token.split("_")[1], "0" * 12)
    with pytest.raises(Unauthenticated):
        env.tokens.verify(other_id)
    assert env.tokens.verify(token).role is Role.ADMIN
