"""Where everything lives in the module's NVM part, and the sealing of secrets at rest.

The part (a simulated EEPROM, `sealmeter.nvm.Eeprom`) is divided into named regions:

| region          | holds                                                          |
| --------------- | -------------------------------------------------------------- |
| `meter.records` | tear-safe records: identity, keys, chain, journal, control     |
| `meter.log`     | the registration log (ring of `log_entries` entries)           |
| `meter.counter` | the tear-safe unit counter (`sealmeter.counter`)               |

Secrets (the private keys and the MAC-chain key) are stored only sealed with AES-256-GCM under
the module's device key, which models the key fused into the chip: it is an argument of the
module and never written to the NVM image, so an image dump reveals no key.
"""

from __future__ import annotations

from collections.abc import Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sealmeter.meter.errors import MeterConfigError, MeterStorageFault
from sealmeter.meter.records import RecordStore
from sealmeter.meter.reglog import RegistrationLog
from sealmeter.nvm import Eeprom, Region

__all__ = [
    "DEVICE_KEY_SIZE",
    "LOG_ENTRY_SIZE",
    "NVM_SIZE",
    "MeterMemory",
    "nvm_size",
    "seal_secret",
    "unseal_secret",
]

DEVICE_KEY_SIZE = 32
LOG_ENTRY_SIZE = 512
COUNTER_BYTES = 1024

RECORDS: dict[str, tuple[int, int]] = {
    "identity": (3, 256),
    "keys": (3, 6144),
    "chain": (3, 1024),
    "journal": (8, 64),
    "control": (3, 8192),
}
RECORDS_BYTES = sum(copies * (capacity + 16) for copies, capacity in RECORDS.values())


def nvm_size(log_entries: int) -> int:
    """Bytes of EEPROM a module with a log of `log_entries` needs (rounded up to 1 KiB)."""
    need = RECORDS_BYTES + log_entries * LOG_ENTRY_SIZE + COUNTER_BYTES
    return -(-need // 1024) * 1024


NVM_SIZE = nvm_size(128)
"""EEPROM size of a module with the default log of 128 registrations (112 KiB)."""


class MeterMemory:
    """The module's regions on one NVM part."""

    def __init__(self, device: Eeprom, log_entries: int | None = None) -> None:
        """Bind the records; the log is bound once its size is known (`bind_log`)."""
        self.device = device
        self.records = RecordStore(device.region("meter.records", RECORDS_BYTES), RECORDS)
        self.log: RegistrationLog | None = None
        if log_entries is not None:
            self.bind_log(log_entries)

    def bind_log(self, entries: int) -> RegistrationLog:
        """Bind the registration log region of `entries` entries."""
        region = self.device.region("meter.log", entries * LOG_ENTRY_SIZE)
        self.log = RegistrationLog(region, LOG_ENTRY_SIZE)
        return self.log

    def counter_region(self) -> Region:
        """The region of the unit counter."""
        return self.device.region("meter.counter", COUNTER_BYTES)


def _check_key(device_key: bytes) -> None:
    if not isinstance(device_key, bytes) or len(device_key) != DEVICE_KEY_SIZE:
        raise MeterConfigError(f"the device key must be {DEVICE_KEY_SIZE} bytes")


def seal_secret(
    device_key: bytes, label: bytes, secret: bytes, entropy: Callable[[int], bytes]
) -> bytes:
    """Encrypt `secret` under the device key (AES-256-GCM, random nonce, `label` bound in)."""
    _check_key(device_key)
    nonce = entropy(12)
    return nonce + AESGCM(device_key).encrypt(nonce, secret, label)


def unseal_secret(device_key: bytes, label: bytes, sealed: bytes) -> bytes:
    """Decrypt a secret sealed by `seal_secret`; a wrong device key is a storage fault."""
    _check_key(device_key)
    try:
        return AESGCM(device_key).decrypt(sealed[:12], sealed[12:], label)
    except (InvalidTag, ValueError):
        raise MeterStorageFault(
            f"the sealed {label.decode()} in NVM does not open with this module's device key: "
            "the image belongs to another module or was altered"
        ) from None
