"""Sealing the meters' secrets at rest (MAC-chain state, shared secrets) with the storage key.

The head-end's chain state of a meter contains the current chain key, a secret: whoever reads
it could forge that meter's next registrations. It is stored AES-256-GCM-sealed under the
storage key kept in the box's key file, bound to the meter id (a state cannot be moved to
another meter's row).
"""

from __future__ import annotations

import os
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sealmeter.headend._keys import BoxKeys
from sealmeter.headend.errors import KeyStoreError

__all__ = ["open_secret", "open_state", "seal_secret", "seal_state"]

_VERSION = b"\x01"
_AAD = b"sealmeter/chain-state/v1/"


def _aead(keys: BoxKeys) -> AESGCM:
    if keys.storage_key is None:
        raise KeyStoreError(
            "the box's key file has no storage key (it predates sealed chain state); "
            "create a new key file with `sealmeter headend keys init`"
        )
    return _aesgcm(keys.storage_key)


@lru_cache(maxsize=8)
def _aesgcm(key: bytes) -> AESGCM:
    """One AES-GCM object per storage key (building it costs as much as a small seal)."""
    return AESGCM(key)


def seal_state(keys: BoxKeys, meter_id: str, state: bytes) -> bytes:
    """The chain state of `meter_id`, sealed for the database."""
    nonce = os.urandom(12)
    return _VERSION + nonce + _aead(keys).encrypt(nonce, state, _AAD + meter_id.encode())


def open_state(keys: BoxKeys, meter_id: str, sealed: bytes) -> bytes:
    """Unseal a stored chain state; `KeyStoreError` if these keys did not seal it."""
    if sealed[:1] != _VERSION or len(sealed) < 1 + 12 + 16:
        raise KeyStoreError(f"the stored chain state of meter {meter_id!r} is corrupt")
    try:
        return _aead(keys).decrypt(sealed[1:13], sealed[13:], _AAD + meter_id.encode())
    except InvalidTag:
        raise KeyStoreError(
            f"the chain state of meter {meter_id!r} was not sealed by these keys: the head-end "
            "runs with another key file than the one this database was provisioned with"
        ) from None


def seal_secret(keys: BoxKeys, meter_id: str, secret: bytes) -> bytes:
    """A symmetric-suite meter's shared secret, sealed for the database."""
    return seal_state(keys, meter_id + "/secret", secret)


def open_secret(keys: BoxKeys, meter_id: str, sealed: bytes) -> bytes:
    """Unseal a symmetric-suite meter's shared secret."""
    return open_state(keys, meter_id + "/secret", sealed)
