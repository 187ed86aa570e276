"""The MAC chain behind every registration's authentication code (replaces the seed's hash).

code_n = HMAC-SHA256(K_{n-1}, "sealmeter/chain/code/v1" || code_{n-1} || body_n) and, once the
code is made, K_n = HMAC-SHA256(K_{n-1}, "sealmeter/chain/key/v1"); K_{n-1} is forgotten. The
meter keeps (next seq, key, last code) in NVM; a key extracted later cannot forge or re-code
the past (forward security). The head-end, provisioned with K_0, walks the same chain and
detects gaps, reorders, insertions, deletions and duplicates. Both states are immutable values
with `to_bytes`/`from_bytes`; every step returns a new state and leaves the old one untouched,
so a rejected registration changes nothing.
"""

from __future__ import annotations

import hashlib
import hmac as _stdlib_hmac
import struct
from dataclasses import dataclass, fields, replace
from itertools import starmap

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as _hmac

from sealmeter.protocol.codec import encode_registration, fresh_registration_encoding
from sealmeter.protocol.errors import (
    BadAuthCode,
    ChainConflict,
    ChainDuplicate,
    ChainGap,
    ChainReorder,
    ChainStale,
    ProtocolUsageError,
)
from sealmeter.protocol.messages import Registration, remember_encoding

__all__ = [
    "CHAIN_KEY_SIZE",
    "DUPLICATE_WINDOW",
    "BatchVerdict",
    "HeadEndChain",
    "MeterChain",
    "chain_code",
    "evolve_chain_key",
]

CHAIN_KEY_SIZE = 32
"""Bytes of a chain key (K_0 at provisioning, and every evolved key)."""

DUPLICATE_WINDOW = 64
"""How many recent registrations the head-end remembers to recognise identical duplicates."""

_CODE_LABEL = b"sealmeter/chain/code/v1"
_KEY_LABEL = b"sealmeter/chain/key/v1"
_GENESIS = bytes(32)
_CODE_LENGTH = bytes((32,))
_STATE_VERSION = 1
_METER_STATE = struct.Struct(">BQ32s32s")
_HEAD_STATE = struct.Struct(">BQ32s32sH")
_RECENT = struct.Struct(">Q32s")
_HMAC = _hmac.HMAC
_SHA256 = hashes.SHA256()
_sha256 = hashlib.sha256
_compare_digest = _stdlib_hmac.compare_digest


def _mac(key: bytes, *parts: bytes) -> bytes:
    mac = _hmac.HMAC(key, hashes.SHA256())
    for part in parts:
        mac.update(part)
    return mac.finalize()


def chain_code(key: bytes, previous_code: bytes, body: bytes) -> bytes:
    """The authentication code of `body` (registration bytes) after `previous_code` under `key`."""
    return _mac(key, _CODE_LABEL, previous_code, body)


def evolve_chain_key(key: bytes) -> bytes:
    """The next chain key; one-way, so the previous key cannot be recovered from it."""
    return _mac(key, _KEY_LABEL)


def _check_key(key: bytes) -> None:
    if not isinstance(key, bytes) or len(key) != CHAIN_KEY_SIZE:
        raise ProtocolUsageError(
            f"a chain key must be {CHAIN_KEY_SIZE} bytes (e.g. secrets.token_bytes(32))"
        )


@dataclass(frozen=True, slots=True, repr=False)
class MeterChain:
    """The meter's side of the chain: the next sequence number, the current key, the last code."""

    next_seq: int
    key: bytes
    last_code: bytes

    @classmethod
    def start(cls, initial_key: bytes) -> MeterChain:
        """A fresh chain from the provisioned key K_0; the first registration gets seq 1."""
        _check_key(initial_key)
        return cls(1, initial_key, _GENESIS)

    def __repr__(self) -> str:
        """Show the position only; the key never appears in logs."""
        return f"MeterChain(next_seq={self.next_seq})"

    def seal(self, draft: Registration) -> tuple[Registration, MeterChain]:
        """Number and code `draft`; return the sealed registration and the next chain state.

        The chain owns numbering: `draft.seq` and `draft.auth_code` are replaced. Persist the
        returned state before releasing the registration, then drop the old state (and key).
        """
        sealed = _renumbered(draft, self.next_seq)
        body = fresh_registration_encoding(sealed)[:-1]  # all but the empty code's length
        code = chain_code(self.key, self.last_code, body)
        # `sealed` is not released yet: give it its code (32 bytes, valid by construction)
        # and remember its encoding, so queueing and sending it never encode it again
        _set_auth_code(sealed, code)
        remember_encoding(sealed, body + _CODE_LENGTH + code)
        return sealed, MeterChain(self.next_seq + 1, evolve_chain_key(self.key), code)

    def to_bytes(self) -> bytes:
        """Serialise for NVM (contains the current key: store it inside the security module)."""
        return _METER_STATE.pack(_STATE_VERSION, self.next_seq, self.key, self.last_code)

    @classmethod
    def from_bytes(cls, data: bytes) -> MeterChain:
        """Restore a state written by `to_bytes`; raise `ProtocolUsageError` on bad bytes."""
        if not isinstance(data, bytes) or len(data) != _METER_STATE.size:
            raise ProtocolUsageError(
                f"meter chain state must be {_METER_STATE.size} bytes; restore it from backup"
            )
        version, next_seq, key, last_code = _METER_STATE.unpack(data)
        if version != _STATE_VERSION or next_seq < 1:
            raise ProtocolUsageError("meter chain state is corrupt (version or sequence)")
        return cls(next_seq, key, last_code)


@dataclass(frozen=True, slots=True)
class BatchVerdict:
    """What `HeadEndChain.verify_batch` found: the new state, fresh and duplicate registrations.

    `stale` are sequence numbers at or below the last accepted one but older than the
    duplicate window: already accepted long ago (the meter never got the acknowledgement),
    so they are skipped unread; nothing is stored for them.
    """

    chain: HeadEndChain
    accepted: tuple[Registration, ...]
    duplicates: tuple[int, ...]
    stale: tuple[int, ...] = ()


def _digest(encoded: bytes) -> bytes:
    return hashlib.sha256(encoded).digest()


@dataclass(frozen=True, slots=True, repr=False)
class HeadEndChain:
    """The head-end's view of one meter's chain; verifying returns a new value, never mutates.

    `last_seq` is the highest registration accepted (0 before the first), `key` the chain key
    for the next one, `recent` the (seq, SHA-256 of encoded registration) of the last
    `DUPLICATE_WINDOW` accepted registrations.
    """

    last_seq: int
    key: bytes
    last_code: bytes
    recent: tuple[tuple[int, bytes], ...] = ()

    @classmethod
    def start(cls, initial_key: bytes) -> HeadEndChain:
        """The state for a newly provisioned meter whose chain starts from K_0."""
        _check_key(initial_key)
        return cls(0, initial_key, _GENESIS, ())

    def __repr__(self) -> str:
        """Show the position only; the key never appears in logs."""
        return f"HeadEndChain(last_seq={self.last_seq})"

    @property
    def expected_seq(self) -> int:
        """The sequence number the next fresh registration must carry."""
        return self.last_seq + 1

    def verify(self, reg: Registration, *, encoded: bytes | None = None) -> HeadEndChain:
        """Check that `reg` continues the chain; return the new state or raise a `ChainError`.

        `ChainDuplicate` means already accepted and identical (acknowledge again, store
        nothing); every other error means the registration is not authentic where it claims.
        `encoded`, if given, must be `encode_registration(reg)` (saves re-encoding it).
        """
        if encoded is None:
            encoded = encode_registration(reg)
        expected = self.last_seq + 1
        if reg.seq == expected:
            body = encoded[: len(encoded) - 1 - len(reg.auth_code)]
            code = chain_code(self.key, self.last_code, body)
            if not _stdlib_hmac.compare_digest(code, reg.auth_code):
                raise BadAuthCode(
                    f"registration {reg.seq} of meter {reg.meter_id!r} has a wrong "
                    "authentication code: it was edited, inserted or forged; keep the meter's "
                    "state and investigate",
                    seq=reg.seq,
                )
            recent = (*self.recent, (reg.seq, _digest(encoded)))[-DUPLICATE_WINDOW:]
            return HeadEndChain(reg.seq, evolve_chain_key(self.key), code, recent)
        if reg.seq > expected:
            raise ChainGap(
                f"registration {reg.seq} of meter {reg.meter_id!r} skips {expected}.."
                f"{reg.seq - 1}: registrations are missing (deleted or lost); ask the meter "
                "to resend from the expected one",
                seq=reg.seq,
                expected=expected,
            )
        for seq, digest in self.recent:
            if seq == reg.seq:
                if _stdlib_hmac.compare_digest(digest, _digest(encoded)):
                    raise ChainDuplicate(
                        f"registration {reg.seq} of meter {reg.meter_id!r} was already "
                        "accepted and is identical; acknowledge again, do not store twice",
                        seq=reg.seq,
                    )
                raise ChainConflict(
                    f"registration {reg.seq} of meter {reg.meter_id!r} differs from the one "
                    "already accepted under that number: an edited or inserted copy",
                    seq=reg.seq,
                )
        raise ChainStale(
            f"registration {reg.seq} of meter {reg.meter_id!r} is older than the last "
            f"{DUPLICATE_WINDOW} accepted (now at {self.last_seq}): a replay; ignore it",
            seq=reg.seq,
        )

    def verify_batch(
        self,
        registrations: tuple[Registration, ...],
        *,
        encodings: tuple[bytes, ...] | None = None,
    ) -> BatchVerdict:
        """Verify a batch in order; duplicates and stale ones are skipped, anything else raises.

        The batch must strictly increase in sequence (`ChainReorder` otherwise). On any error
        the returned state does not exist: `self` is still the valid state. `encodings`, if
        given, are the registrations' `encode_registration` bytes, in the same order.
        """
        if encodings is not None and len(encodings) != len(registrations):
            raise ProtocolUsageError("encodings must match the registrations one to one")
        previous = -1
        for reg in registrations:
            if reg.seq <= previous:
                raise ChainReorder(
                    f"registration {reg.seq} follows {previous} in one batch: the batch is "
                    "reordered or repeats a number; reject it whole",
                    seq=reg.seq,
                )
            previous = reg.seq
        accepted: list[Registration] = []
        duplicates: list[int] = []
        stale: list[int] = []
        last_seq, key, last_code = self.last_seq, self.key, self.last_code
        recent = list(self.recent)
        for i, reg in enumerate(registrations):
            encoded = encode_registration(reg) if encodings is None else encodings[i]
            if reg.seq != last_seq + 1:
                # not the next one: let `verify` classify it (duplicate, gap, conflict, stale)
                state = HeadEndChain(last_seq, key, last_code, tuple(recent[-DUPLICATE_WINDOW:]))
                try:
                    state.verify(reg, encoded=encoded)
                except ChainDuplicate:
                    duplicates.append(reg.seq)
                    continue
                except ChainStale:
                    stale.append(reg.seq)
                    continue
                raise AssertionError("unreachable: verify accepted an unexpected sequence")
            # chain_code and evolve_chain_key, inlined: this loop runs for every registration
            auth_code = reg.auth_code
            mac = _HMAC(key, _SHA256)
            mac.update(_CODE_LABEL + last_code + encoded[: len(encoded) - 1 - len(auth_code)])
            code = mac.finalize()
            if not _compare_digest(code, auth_code):
                HeadEndChain(last_seq, key, last_code).verify(reg, encoded=encoded)
            evolve = _HMAC(key, _SHA256)
            evolve.update(_KEY_LABEL)
            last_seq, key, last_code = reg.seq, evolve.finalize(), code
            recent.append((last_seq, _sha256(encoded).digest()))
            accepted.append(reg)
        # both built with the slots' own setters: the values are the ones checked above
        state = _new(HeadEndChain)
        _set_last_seq(state, last_seq)
        _set_key(state, key)
        _set_last_code(state, last_code)
        _set_recent(state, tuple(recent[-DUPLICATE_WINDOW:]))
        verdict = _new(BatchVerdict)
        _set_chain(verdict, state)
        _set_accepted(verdict, tuple(accepted))
        _set_duplicates(verdict, tuple(duplicates))
        _set_stale(verdict, tuple(stale))
        return verdict

    def to_bytes(self) -> bytes:
        """Serialise for the head-end's store (contains the chain key: keep the store private)."""
        head = _HEAD_STATE.pack(
            _STATE_VERSION, self.last_seq, self.key, self.last_code, len(self.recent)
        )
        return head + b"".join(starmap(_RECENT.pack, self.recent))

    @classmethod
    def from_bytes(cls, data: bytes) -> HeadEndChain:
        """Restore a state written by `to_bytes`; raise `ProtocolUsageError` on bad bytes."""
        if not isinstance(data, bytes) or len(data) < _HEAD_STATE.size:
            raise ProtocolUsageError("head-end chain state is too short; restore it from backup")
        version, last_seq, key, last_code, count = _HEAD_STATE.unpack_from(data)
        if version != _STATE_VERSION or count > DUPLICATE_WINDOW:
            raise ProtocolUsageError("head-end chain state is corrupt (version or window)")
        if len(data) != _HEAD_STATE.size + count * _RECENT.size:
            raise ProtocolUsageError("head-end chain state has the wrong length; it is corrupt")
        recent = tuple(
            _RECENT.unpack_from(data, _HEAD_STATE.size + i * _RECENT.size) for i in range(count)
        )
        return cls(last_seq, key, last_code, recent)


_new = object.__new__
_MAX_SEQ = 2**64 - 1
# the fields a draft keeps when the chain numbers it: (setter on the copy, getter on the draft)
_KEPT = tuple(
    (vars(Registration)[f.name].__set__, vars(Registration)[f.name].__get__)
    for f in fields(Registration)
    if f.name not in ("seq", "auth_code")
)
_set_seq = vars(Registration)["seq"].__set__


def _renumbered(draft: Registration, seq: int) -> Registration:
    """`draft` numbered `seq`, with no code and no remembered encoding.

    A `Registration` was checked field by field when it was built (or decoded), so its
    fields are copied as they are; only the number is new, and it is checked here. Anything
    else (a subclass, a number out of range) goes through `dataclasses.replace`, which checks
    every field again and raises `ProtocolUsageError` for a bad one.
    """
    if type(draft) is not Registration or not 0 <= seq <= _MAX_SEQ:
        return replace(draft, seq=seq, auth_code=b"")
    sealed = _new(Registration)
    for set_field, get_field in _KEPT:
        set_field(sealed, get_field(draft, Registration))
    _set_seq(sealed, seq)
    _set_auth_code(sealed, b"")
    remember_encoding(sealed, None)
    return sealed


_set_auth_code = vars(Registration)["auth_code"].__set__
_set_last_seq = vars(HeadEndChain)["last_seq"].__set__
_set_key = vars(HeadEndChain)["key"].__set__
_set_last_code = vars(HeadEndChain)["last_code"].__set__
_set_recent = vars(HeadEndChain)["recent"].__set__
_set_chain = vars(BatchVerdict)["chain"].__set__
_set_accepted = vars(BatchVerdict)["accepted"].__set__
_set_duplicates = vars(BatchVerdict)["duplicates"].__set__
_set_stale = vars(BatchVerdict)["stale"].__set__
