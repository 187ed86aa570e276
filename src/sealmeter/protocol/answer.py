"""Answers keyed by their call: the head-end answers an uplink without a new key encapsulation.

A meter that seals its uplink with `seal_call` (envelope kind `CALL`) keeps the returned
`AnswerKey` in RAM for that call only. The head-end opens the call with `open_call`, which
derives the same key from the call's key encapsulation (HKDF-SHA256 of its shared secret, a
label of its own, bound to the hash of the whole sealed call), and answers with `seal_answer`
(envelope kind `ANSWER`): the downlink encrypted under that key, with the call's id in the
header where the encapsulation would be, and signed by the head-end as every downlink is. The
head-end saves the encapsulation, the meter the decapsulation. The meter opens the answer
with `open_downlink(..., answer_key=...)`; an answer to another call, a replay, or one that
arrives when the meter holds no key (after a restart) is refused with a typed error, and the
meter calls again. Pushed downlinks (not answers) stay sealed in full (`seal_downlink`).
"""

from __future__ import annotations

import hmac
import os
from datetime import datetime
from typing import NamedTuple

from sealmeter.protocol import _suites
from sealmeter.protocol._answerkey import CALL_ID_SIZE, AnswerKey, derive_answer_key
from sealmeter.protocol.chain import HeadEndChain
from sealmeter.protocol.codec import encode_downlink, encode_uplink
from sealmeter.protocol.envelope import (
    Direction,
    OpenedUplink,
    _check_seed,
    _encrypt_and_sign,
    _head,
    _open_uplink,
    _seal_keyed,
)
from sealmeter.protocol.errors import ProtocolUsageError
from sealmeter.protocol.keys import PrivateKeys, PublicKeys
from sealmeter.protocol.messages import Downlink, Uplink

__all__ = [
    "CALL_ID_SIZE",
    "AnswerKey",
    "OpenedCall",
    "SealedCall",
    "open_call",
    "seal_answer",
    "seal_call",
]


class SealedCall(NamedTuple):
    """A sealed call: the bytes to send, and the key its answer will open with (RAM only)."""

    data: bytes
    answer_key: AnswerKey


class OpenedCall(NamedTuple):
    """An opened uplink and, if the meter sent it as a call, the key to answer it with.

    `answer_key` is None for a plain uplink (`seal_uplink`): answer it with `seal_downlink`.
    """

    opened: OpenedUplink
    answer_key: AnswerKey | None


def seal_call(
    uplink: Uplink,
    *,
    meter: PrivateKeys,
    headend: PublicKeys,
    seed: bytes | None = None,
) -> SealedCall:
    """`seal_uplink` as a call: the same envelope of kind `CALL`, and the call's answer key.

    Keep `answer_key` in RAM for this call only (never in NVM): pass it to `open_downlink`
    when the answer comes, then drop it. `seed` as in `seal_uplink`.
    """
    if not isinstance(uplink, Uplink):
        raise ProtocolUsageError("seal_call needs an Uplink")
    plaintext = encode_uplink(uplink)
    data, secret = _seal_keyed(plaintext, Direction.CALL, uplink.meter_id, meter, headend, seed)
    key = derive_answer_key(
        meter.suite,
        secret,
        data,
        meter_id=uplink.meter_id,
        meter_key_id=meter.key_id,
        headend_key_id=headend.key_id,
        nonce=uplink.nonce,
    )
    return SealedCall(data, key)


def open_call(
    data: bytes,
    *,
    headend: PrivateKeys,
    meter: PublicKeys,
    meter_id: str,
    chain: HeadEndChain,
    not_before: datetime | None = None,
) -> OpenedCall:
    """`open_uplink`, and for a call the key to answer it with (`seal_answer`).

    Accepts a plain uplink too (its `answer_key` is None). Arguments and errors as in
    `open_uplink`; the answer key is derived only once the call opened and its chain checked.
    """
    opened, secret, kind = _open_uplink(data, headend, meter, meter_id, chain, not_before)
    if kind is not Direction.CALL:
        return OpenedCall(opened, None)
    key = derive_answer_key(
        headend.suite,
        secret,
        bytes(data),
        meter_id=meter_id,
        meter_key_id=meter.key_id,
        headend_key_id=headend.key_id,
        nonce=opened.uplink.nonce,
    )
    return OpenedCall(opened, key)


def seal_answer(
    downlink: Downlink,
    *,
    headend: PrivateKeys,
    answer_key: AnswerKey,
    seed: bytes | None = None,
) -> bytes:
    """Seal `downlink` as the answer to the call `answer_key` came from; sign it.

    The downlink must be for the call's meter and echo the call's nonce. `seed` (32 bytes)
    makes the AEAD nonce deterministic, for tests and vectors; None in production.
    """
    if not isinstance(downlink, Downlink):
        raise ProtocolUsageError("seal_answer needs a Downlink")
    if not isinstance(answer_key, AnswerKey) or not isinstance(headend, PrivateKeys):
        raise ProtocolUsageError("pass the head-end's PrivateKeys and the call's AnswerKey")
    if headend.suite is not answer_key.suite or headend.key_id != answer_key.headend_key_id:
        raise ProtocolUsageError(
            "these head-end keys did not open the call this answer key comes from"
        )
    if downlink.meter_id != answer_key.meter_id or not hmac.compare_digest(
        downlink.nonce, answer_key.nonce
    ):
        raise ProtocolUsageError(
            "an answer must be for the call's meter and echo the call's nonce; "
            "seal anything else with seal_downlink"
        )
    head = _head(
        Direction.ANSWER,
        downlink.meter_id,
        headend.suite,
        headend.key_id,
        answer_key.meter_key_id,
    )
    assert head is not None  # the meter id is a checked message field
    plaintext = encode_downlink(downlink)
    if seed is None:  # the nonce is the only randomness an answer needs: take it directly
        nonce = os.urandom(_suites.AEAD_NONCE_SIZE)
    else:
        nonce = _suites.seed_bytes(_check_seed(seed), b"nonce", _suites.AEAD_NONCE_SIZE)
    return _encrypt_and_sign(head, answer_key.call_id, nonce, answer_key.aead(), plaintext, headend)
