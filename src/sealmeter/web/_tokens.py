"""Operator API tokens: issued once, stored only as a hash, each with one role.

A token reads ``smt_<id>_<secret>``: `id` names the row (so lookups need no scan), `secret`
is 32 random bytes. Only SHA-256 of the secret is stored; a high-entropy random secret needs
no slow password hash, and the comparison is constant-time. Tokens live in the head-end's
database (table ``web_tokens``) so every `sealmeter serve` process sharing it agrees.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    MetaData,
    String,
    Table,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import SQLAlchemyError

from sealmeter.clock import ensure_utc
from sealmeter.web.errors import TokenError, Unauthenticated, Unavailable

__all__ = ["IssuedToken", "Role", "TokenInfo", "TokenStore"]

_PREFIX = "smt_"
_ID_BYTES = 6
_SECRET_BYTES = 32

_metadata = MetaData()
web_tokens = Table(
    "web_tokens",
    _metadata,
    Column("token_id", String(16), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("role", String(16), nullable=False),
    Column("secret_sha256", String(64), nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("revoked_us", BigInteger, nullable=True),
)


class Role(enum.Enum):
    """What a token may do: read-only reads, operator also acts on meters, admin everything."""

    READ_ONLY = "read-only"
    OPERATOR = "operator"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        """Strength of the role: a role may do everything a lower rank may."""
        return _RANK[self]

    def allows(self, needed: Role) -> bool:
        """True when this role is at least as strong as `needed`."""
        return self.rank >= needed.rank

    @classmethod
    def parse(cls, text: str) -> Role:
        """The role named `text` (``admin``, ``operator``, ``read-only``), or a `TokenError`."""
        for role in cls:
            if role.value == text.strip().lower():
                return role
        names = ", ".join(r.value for r in cls)
        raise TokenError(f"unknown role {text!r}; choose one of: {names}")


_RANK = {Role.READ_ONLY: 0, Role.OPERATOR: 1, Role.ADMIN: 2}


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A stored token, without its secret."""

    token_id: str
    name: str
    role: Role
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A token just created: `token` is the only time the secret is ever shown."""

    info: TokenInfo
    token: str


def _us(when: datetime) -> int:
    delta = ensure_utc(when) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _from_us(us: int | None) -> datetime | None:
    if us is None:
        return None
    return datetime.fromtimestamp(us / 1_000_000, tz=UTC)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


class TokenStore:
    """Creates, lists, revokes and verifies operator tokens in a SQL database."""

    def __init__(self, engine: Engine) -> None:
        """Use `engine` (the head-end's database); the table is created if missing."""
        self._engine = engine
        try:
            _metadata.create_all(engine, checkfirst=True)
        except SQLAlchemyError as exc:
            raise Unavailable(
                f"cannot create the API token table: {type(exc).__name__}; check the database"
            ) from None

    def create(self, name: str, role: Role, now: datetime) -> IssuedToken:
        """Issue a new token named `name` with `role`; the secret is returned only here."""
        name = name.strip()
        if not name or len(name) > 128:
            raise TokenError("a token needs a name of 1 to 128 characters (who or what uses it)")
        token_id = secrets.token_hex(_ID_BYTES)
        secret = secrets.token_urlsafe(_SECRET_BYTES)
        created = ensure_utc(now)
        row = {
            "token_id": token_id,
            "name": name,
            "role": role.value,
            "secret_sha256": _digest(secret),
            "created_us": _us(created),
            "revoked_us": None,
        }
        with self._guard("store a new token"), self._engine.begin() as conn:
            conn.execute(insert(web_tokens).values(**row))
        info = TokenInfo(token_id, name, role, _from_us(_us(created)) or created, None)
        return IssuedToken(info=info, token=f"{_PREFIX}{token_id}_{secret}")

    def list(self, *, include_revoked: bool = False) -> list[TokenInfo]:
        """Every token (oldest first), without secrets; revoked ones only when asked."""
        query = select(web_tokens).order_by(web_tokens.c.created_us, web_tokens.c.token_id)
        if not include_revoked:
            query = query.where(web_tokens.c.revoked_us.is_(None))
        with self._guard("list tokens"), self._engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [self._info(row) for row in rows]

    def count_active(self) -> int:
        """How many tokens are not revoked (0 means the server needs a first admin token)."""
        query = select(func.count()).select_from(web_tokens)
        query = query.where(web_tokens.c.revoked_us.is_(None))
        with self._guard("count tokens"), self._engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def revoke(self, token_id: str, now: datetime) -> TokenInfo:
        """Revoke the token `token_id` (idempotent); raises `TokenError` if it does not exist."""
        with self._guard("revoke a token"), self._engine.begin() as conn:
            conn.execute(
                update(web_tokens)
                .where(web_tokens.c.token_id == token_id, web_tokens.c.revoked_us.is_(None))
                .values(revoked_us=_us(now))
            )
            row = (
                conn.execute(select(web_tokens).where(web_tokens.c.token_id == token_id))
                .mappings()
                .first()
            )
        if row is None:
            raise TokenError(f"no API token with id {token_id!r}; list them to find the id")
        return self._info(row)

    def verify(self, token: str) -> TokenInfo:
        """The token's info if `token` is a valid, unrevoked token; else `Unauthenticated`."""
        parts = token.split("_")
        if len(parts) < 3 or not token.startswith(_PREFIX) or len(parts[1]) != 2 * _ID_BYTES:
            raise Unauthenticated(
                "the API token is malformed; send 'Authorization: Bearer smt_<id>_<secret>'"
            )
        token_id, secret = parts[1], "_".join(parts[2:])
        if not secret.isascii():
            raise Unauthenticated("the API token is malformed; it must be plain ASCII")
        with self._guard("check a token"), self._engine.connect() as conn:
            row = (
                conn.execute(select(web_tokens).where(web_tokens.c.token_id == token_id))
                .mappings()
                .first()
            )
        # Compare even when the row is missing, so timing does not reveal which ids exist.
        stored = row["secret_sha256"] if row is not None else "0" * 64
        matches = hmac.compare_digest(stored, _digest(secret))
        if row is None or not matches:
            raise Unauthenticated("unknown API token; ask an admin for a valid one")
        if row["revoked_us"] is not None:
            raise Unauthenticated("this API token was revoked; ask an admin for a new one")
        return self._info(row)

    @staticmethod
    def _info(row: RowMapping) -> TokenInfo:
        created = _from_us(row["created_us"])
        assert created is not None
        return TokenInfo(
            token_id=str(row["token_id"]),
            name=str(row["name"]),
            role=Role.parse(str(row["role"])),
            created_at=created,
            revoked_at=_from_us(row["revoked_us"]),
        )

    @staticmethod
    @contextmanager
    def _guard(what: str) -> Iterator[None]:
        """Turn a database failure into `Unavailable` naming what we were doing."""
        try:
            yield
        except SQLAlchemyError as exc:
            raise Unavailable(
                f"the database failed while trying to {what} ({type(exc).__name__}); "
                "check that it is reachable and retry"
            ) from None
