"""REST routes for running the service: health, metrics, and operator tokens (admin only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import PlainTextResponse

from sealmeter.web._common import Admin, Reader, errors
from sealmeter.web._deps import Doors, current_doors
from sealmeter.web._metrics import render_prometheus
from sealmeter.web._schemas import HealthOut, IssuedTokenOut, TokenIn, TokenOut
from sealmeter.web._tokens import Role
from sealmeter.web.errors import NotFoundError, TokenError

__all__ = ["router"]

router = APIRouter(prefix="/v1")
Ctx = Annotated[Doors, Depends(current_doors)]


@router.get("/health", response_model=HealthOut, tags=["operations"])
def health(ctx: Ctx) -> HealthOut:
    """Is the head-end up and its store reachable? (No token needed, for load balancers.)"""
    return HealthOut.of(ctx.headend.health())


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    responses={**errors(), 200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    tags=["operations"],
)
def metrics(ctx: Ctx, _who: Reader) -> PlainTextResponse:
    """Prometheus text: requests by route and status, stored data and fleet states."""
    headend = ctx.headend
    text = render_prometheus(
        ctx.metrics, headend.health(), headend.fleet(ctx.now()), headend.metrics()
    )
    return PlainTextResponse(text, media_type="text/plain; version=0.0.4")


@router.get("/tokens", response_model=list[TokenOut], responses=errors(), tags=["tokens"])
def list_tokens(
    ctx: Ctx,
    _who: Admin,
    include_revoked: Annotated[bool, Query(description="Also list revoked tokens")] = False,
) -> list[TokenOut]:
    """Operator API tokens (never their secrets)."""
    return [TokenOut.of(t) for t in ctx.tokens.list(include_revoked=include_revoked)]


@router.post(
    "/tokens",
    response_model=IssuedTokenOut,
    status_code=201,
    responses=errors(400),
    tags=["tokens"],
)
def create_token(ctx: Ctx, _who: Admin, body: TokenIn) -> IssuedTokenOut:
    """Issue a token with a role; its secret is in this reply only, store it safely."""
    issued = ctx.tokens.create(body.name, Role.parse(body.role), ctx.now())
    base = TokenOut.of(issued.info)
    return IssuedTokenOut(**base.model_dump(), token=issued.token)


@router.delete(
    "/tokens/{token_id}", response_model=TokenOut, responses=errors(404), tags=["tokens"]
)
def revoke_token(
    ctx: Ctx,
    _who: Admin,
    token_id: Annotated[str, Path(min_length=1, max_length=16, pattern=r"^[0-9a-f]+$")],
) -> TokenOut:
    """Revoke a token at once (idempotent); requests with it then get 401."""
    try:
        return TokenOut.of(ctx.tokens.revoke(token_id, ctx.now()))
    except TokenError as exc:
        raise NotFoundError(str(exc)) from None
