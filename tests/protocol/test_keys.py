"""Suites and keys: export/import, encrypted storage, pinning by key id, no secrets in reprs."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealmeter.protocol import (
    PrivateKeys,
    ProtocolUsageError,
    PublicKeys,
    Suite,
    generate_keys,
    symmetric_keys,
)
from tests.protocol import conftest as c
from tests.protocol.conftest import Parties


def test_suite_names_and_wire_ids_are_stable() -> None:
    assert [s.value for s in Suite] == ["ec-modern", "nist-p256", "rsa", "symmetric"]
    assert [s.wire_id for s in Suite] == [1, 2, 3, 4]
    assert Suite.from_name("rsa") is Suite.RSA
    with pytest.raises(ProtocolUsageError, match="ec-modern"):
        Suite.from_name("des")


def test_public_keys_round_trip(parties: Parties) -> None:
    pub = parties.meter.public()
    if parties.suite is Suite.SYMMETRIC:
        with pytest.raises(ProtocolUsageError, match="no public part"):
            pub.to_bytes()
        return
    data = pub.to_bytes()
    back = PublicKeys.from_bytes(data)
    assert back == pub
    assert back.key_id == parties.meter.key_id
    assert back != parties.headend.public()


def test_public_key_import_rejects_every_corruption(parties: Parties) -> None:
    if parties.suite is Suite.SYMMETRIC:
        assert parties.meter.public().secret is not None
        return
    data = parties.meter.public().to_bytes()
    for end in range(0, len(data), max(1, len(data) // 40)):
        with pytest.raises(ProtocolUsageError):
            PublicKeys.from_bytes(data[:end])
    with pytest.raises(ProtocolUsageError):
        PublicKeys.from_bytes(data + b"\x00")
    for pos in range(6):
        bad = bytearray(data)
        bad[pos] ^= 0xFF
        with pytest.raises(ProtocolUsageError):
            PublicKeys.from_bytes(bytes(bad))


def test_private_keys_are_stored_encrypted(parties: Parties) -> None:
    keys = parties.meter
    blob = keys.to_bytes(b"correct horse")
    back = PrivateKeys.from_bytes(blob, b"correct horse")
    assert back.public() == keys.public()
    with pytest.raises(ProtocolUsageError, match="passphrase"):
        PrivateKeys.from_bytes(blob, b"wrong")
    if keys.secret is not None:
        assert keys.secret not in blob
    with pytest.raises(ProtocolUsageError):
        keys.to_bytes(b"")
    with pytest.raises(ProtocolUsageError):
        PrivateKeys.from_bytes(blob[:-1], b"correct horse")
    with pytest.raises(ProtocolUsageError):
        PrivateKeys.from_bytes(b"junk", b"correct horse")


def test_reprs_name_the_suite_but_never_a_secret(parties: Parties) -> None:
    keys = parties.meter
    text = repr(keys) + repr(keys.public()) + str(keys)
    assert parties.suite.value in text
    if keys.secret is not None:
        assert keys.secret.hex() not in text


def test_mismatched_keys_are_usage_errors() -> None:
    ec_keys = c.parties_for(Suite.EC_MODERN).meter
    with pytest.raises(ProtocolUsageError):
        PrivateKeys(Suite.NIST_P256, ec_keys.decryption, ec_keys.signing)
    with pytest.raises(ProtocolUsageError):
        symmetric_keys(b"short")
    assert generate_keys().suite is Suite.EC_MODERN


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=200), suite_id=st.integers(0, 6), mutate=st.booleans())
def test_any_bytes_give_keys_or_a_usage_error(data: bytes, suite_id: int, mutate: bool) -> None:
    for magic in (b"SMPK", b"SMSK"):
        blob = magic + bytes([1, suite_id]) + data if mutate else data
        for load in (PublicKeys.from_bytes, lambda b: PrivateKeys.from_bytes(b, b"pw")):
            with contextlib.suppress(ProtocolUsageError):
                load(blob)


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=400))
def test_any_bytes_give_a_chain_state_or_a_usage_error(data: bytes) -> None:
    from sealmeter.protocol import HeadEndChain, MeterChain

    for load in (HeadEndChain.from_bytes, MeterChain.from_bytes):
        with contextlib.suppress(ProtocolUsageError):
            load(data)


def test_public_keys_with_a_bad_point_are_refused() -> None:
    pub = c.parties_for(Suite.NIST_P256).meter.public().to_bytes()
    bad = bytearray(pub)
    assert bad[8] in (2, 3)  # the first compressed point's prefix
    bad[8] = 5
    with pytest.raises(ProtocolUsageError):
        PublicKeys.from_bytes(bytes(bad))


def test_unknown_suite_ids_are_usage_errors() -> None:
    assert Suite.from_wire_id(3) is Suite.RSA
    with pytest.raises(ProtocolUsageError, match="known ids"):
        Suite.from_wire_id(9)
