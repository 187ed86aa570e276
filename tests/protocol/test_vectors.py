"""The JSON test vectors: sealmeter reproduces and opens them, and an independent checker agrees."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

import sealmeter.protocol as protocol
from sealmeter.protocol import (
    HeadEndChain,
    Suite,
    decode_downlink,
    decode_registration,
    decode_uplink,
    encode_registration,
    open_downlink,
    open_uplink,
    seal_downlink,
    seal_uplink,
)
from tests.vectors import check_independent
from tests.vectors.generate import keys_from_material
from tests.vectors.jsonform import to_json

VECTORS = Path(__file__).resolve().parents[1] / "vectors"


def load(fmt: str, kind: str) -> list[dict[str, Any]]:
    """The vectors of one format and kind ("valid" or "invalid")."""
    items: list[dict[str, Any]] = json.loads((VECTORS / fmt / f"{kind}.json").read_text())
    return items


def vectors(fmt: str, kind: str) -> Any:
    """Parametrize a test over one vector file, each case named by its description."""
    items = load(fmt, kind)
    return pytest.mark.parametrize("vector", items, ids=[v["description"] for v in items])


@vectors("registration", "valid")
def test_registration_vectors_decode_and_reencode(vector: dict[str, Any]) -> None:
    encoded = bytes.fromhex(vector["encoded"])
    reg = decode_registration(encoded)
    assert to_json(reg) == vector["message"]
    assert encode_registration(reg) == encoded
    assert protocol.registration_body(reg).hex() == vector["body"]
    key = bytes.fromhex(vector["chain_key"])
    prev = bytes.fromhex(vector["previous_code"])
    assert protocol.chain_code(key, prev, protocol.registration_body(reg)) == reg.auth_code


def test_registration_vectors_form_one_chain() -> None:
    state = HeadEndChain.start(bytes.fromhex(load("registration", "valid")[0]["chain_key"]))
    for v in load("registration", "valid"):
        state = state.verify(decode_registration(bytes.fromhex(v["encoded"])))
    assert state.last_seq == len(load("registration", "valid"))


@vectors("registration", "invalid")
def test_invalid_registration_vectors_raise_the_named_error(vector: dict[str, Any]) -> None:
    with pytest.raises(getattr(protocol, vector["error"])):
        decode_registration(bytes.fromhex(vector["encoded"]))


_KEYS: dict[str, tuple[protocol.PrivateKeys, protocol.PrivateKeys]] = {}


def _keys(v: dict[str, Any]) -> tuple[protocol.PrivateKeys, protocol.PrivateKeys]:
    cache_key = json.dumps([v["suite"], v["meter_keys"], v["headend_keys"]], sort_keys=True)
    if cache_key not in _KEYS:
        suite = Suite(v["suite"])
        _KEYS[cache_key] = (
            keys_from_material(suite, v["meter_keys"]),
            keys_from_material(suite, v["headend_keys"]),
        )
    return _KEYS[cache_key]


def _open(v: dict[str, Any], data: bytes) -> Any:
    meter, box = _keys(v)
    if v["direction"] == "uplink":
        chain = HeadEndChain.start(bytes.fromhex(v["chain_key"]))
        return open_uplink(
            data, headend=box, meter=meter.public(), meter_id=v["meter_id"], chain=chain
        ).uplink
    return open_downlink(
        data,
        meter=meter,
        headend=box.public(),
        meter_id=v["meter_id"],
        expected_nonce=bytes.fromhex(v["expected_nonce"]),
        now=datetime.fromisoformat(v["now"]),
    )


@vectors("envelope", "valid")
def test_envelope_vectors_open_and_reproduce(vector: dict[str, Any]) -> None:
    data = bytes.fromhex(vector["envelope"])
    message = _open(vector, data)
    assert to_json(message) == vector["message"]
    meter, box = _keys(vector)
    assert meter.key_id.hex() == vector["meter_key_id"]
    if vector["meter_public"]:
        assert meter.public().to_bytes().hex() == vector["meter_public"]
        assert box.public().to_bytes().hex() == vector["headend_public"]
    seed = bytes.fromhex(vector["seed"])
    if vector["direction"] == "uplink":
        assert decode_uplink(bytes.fromhex(vector["plaintext"])) == message
        again = seal_uplink(message, meter=meter, headend=box.public(), seed=seed)
    else:
        assert decode_downlink(bytes.fromhex(vector["plaintext"])) == message
        again = seal_downlink(message, headend=box, meter=meter.public(), seed=seed)
    if vector["reproducible"]:
        assert again == data
    else:  # rsa: OAEP and PSS are randomised; the fresh envelope must still open
        assert to_json(_open(vector, again)) == vector["message"]


@vectors("envelope", "invalid")
def test_invalid_envelope_vectors_raise_the_named_error(vector: dict[str, Any]) -> None:
    base = {**load("envelope", "valid")[vector["valid_index"]], **vector.get("context", {})}
    with pytest.raises(getattr(protocol, vector["error"])):
        _open(base, bytes.fromhex(vector["envelope"]))


def test_independent_checker_agrees_with_every_vector() -> None:
    valid = load("envelope", "valid")
    assert check_independent.check_registrations(load("registration", "valid")) == 3
    assert check_independent.check_envelopes(valid) == len(valid) == 8
    invalid = load("envelope", "invalid")
    assert check_independent.check_invalid_envelopes(valid, invalid) == len(invalid)


def _call_and_key(v: dict[str, Any]) -> tuple[Any, protocol.AnswerKey]:
    meter, box = _keys(v)
    opened = protocol.open_call(
        bytes.fromhex(v["call"]),
        headend=box,
        meter=meter.public(),
        meter_id=v["meter_id"],
        chain=HeadEndChain.start(bytes.fromhex(v["chain_key"])),
    )
    assert opened.answer_key is not None
    return opened, opened.answer_key


def _open_answer(v: dict[str, Any], data: bytes, key: protocol.AnswerKey | None) -> Any:
    meter, box = _keys(v)
    return open_downlink(
        data,
        meter=meter,
        headend=box.public(),
        meter_id=v["meter_id"],
        expected_nonce=bytes.fromhex(v["expected_nonce"]),
        now=datetime.fromisoformat(v["now"]),
        answer_key=key,
    )


@vectors("answer", "valid")
def test_answer_vectors_open_and_reproduce(vector: dict[str, Any]) -> None:
    opened, key = _call_and_key(vector)
    assert to_json(opened.opened.uplink) == vector["call_message"]
    assert key.call_id.hex() == vector["call_id"]
    assert key.key.hex() == vector["answer_key"]
    down = _open_answer(vector, bytes.fromhex(vector["answer"]), key)
    assert to_json(down) == vector["answer_message"]
    assert decode_downlink(bytes.fromhex(vector["answer_plaintext"])) == down
    meter, box = _keys(vector)
    call = protocol.seal_call(
        opened.opened.uplink,
        meter=meter,
        headend=box.public(),
        seed=bytes.fromhex(vector["call_seed"]),
    )
    again = protocol.seal_answer(
        down, headend=box, answer_key=key, seed=bytes.fromhex(vector["answer_seed"])
    )
    if vector["reproducible"]:
        assert call.data.hex() == vector["call"]
        assert call.answer_key.key == key.key
    assert again.hex() == vector["answer"] or vector["suite"] == "rsa"  # PSS is randomised
    assert to_json(_open_answer(vector, again, key)) == vector["answer_message"]


@vectors("answer", "invalid")
def test_invalid_answer_vectors_raise_the_named_error(vector: dict[str, Any]) -> None:
    base = load("answer", "valid")[vector["valid_index"]]
    _, key = _call_and_key(base)
    context = vector["context"]
    held: protocol.AnswerKey | None = key
    if context.get("no_call"):
        held = None
    elif "other_call_seed" in context:
        meter, box = _keys(base)
        other = protocol.seal_call(
            decode_uplink(bytes.fromhex(base["call_plaintext"])),
            meter=meter,
            headend=box.public(),
            seed=bytes.fromhex(context["other_call_seed"]),
        )
        held = other.answer_key
    with pytest.raises(getattr(protocol, vector["error"])):
        _open_answer(base, bytes.fromhex(vector["answer"]), held)


def test_independent_checker_agrees_with_every_answer_vector() -> None:
    valid = load("answer", "valid")
    assert check_independent.check_answers(valid) == len(valid) == 4
    invalid = load("answer", "invalid")
    assert check_independent.check_invalid_answers(valid, invalid) == len(invalid) == 16
