"""The provisioning export of Fig. 3: what the module hands the head-end at manufacture.

At "manufacture" the module generates its key pairs (encryption and signature, in the chosen
suite) and the initial MAC-chain key K_0, stores the head-end's public keys, and exports its
own public keys, its suite and K_0. K_0 is secret: the export travels over the manufacturer's
protected channel (the seed: "at the seller or dealer ... or at the manufacturer") into the
head-end's `provision`. The module's private keys never leave it.
"""

from __future__ import annotations

import base64
import enum
import json
from dataclasses import dataclass

from sealmeter.meter.errors import MeterConfigError
from sealmeter.meter.fsm import Table
from sealmeter.protocol import CHAIN_KEY_SIZE, PublicKeys, Suite

__all__ = ["LIFE", "LifeEvent", "LifeState", "ProvisioningExport"]


@dataclass(frozen=True, repr=False)
class ProvisioningExport:
    """Meter id, suite, the module's public keys (`PublicKeys.to_bytes()`) and K_0."""

    meter_id: str
    suite: Suite
    public_keys: bytes
    chain_key: bytes

    def __repr__(self) -> str:
        """Never show K_0."""
        return f"ProvisioningExport({self.meter_id!r}, {self.suite.value})"

    def public(self) -> PublicKeys:
        """The module's public keys as an object."""
        return PublicKeys.from_bytes(self.public_keys)

    def to_json(self) -> str:
        """JSON with base64 keys (for the CLI's export file)."""
        return json.dumps(
            {
                "meter_id": self.meter_id,
                "suite": self.suite.value,
                "public_keys": base64.b64encode(self.public_keys).decode(),
                "chain_key": base64.b64encode(self.chain_key).decode(),
            },
            indent=2,
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> ProvisioningExport:
        """Read an export written by `to_json`; a bad file raises `MeterConfigError`."""
        try:
            data = json.loads(text)
            export = cls(
                meter_id=str(data["meter_id"]),
                suite=Suite.from_name(str(data["suite"])),
                public_keys=base64.b64decode(data["public_keys"], validate=True),
                chain_key=base64.b64decode(data["chain_key"], validate=True),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise MeterConfigError(
                f"not a provisioning export ({type(exc).__name__}: {exc}); use the file "
                "written by `sealmeter meter provision`"
            ) from None
        if len(export.chain_key) != CHAIN_KEY_SIZE:
            raise MeterConfigError(f"the export's chain key is not {CHAIN_KEY_SIZE} bytes")
        return export


class LifeState(enum.Enum):
    """The module's life: made (no keys yet) or provisioned (keys exchanged, Fig. 3)."""

    MANUFACTURED = "manufactured"
    PROVISIONED = "provisioned"


class LifeEvent(enum.Enum):
    """What moves the module's life."""

    PROVISION = "provision"


LIFE: Table[LifeState, LifeEvent] = Table(
    "module life", {LifeState.MANUFACTURED: {LifeEvent.PROVISION: LifeState.PROVISIONED}}
)
