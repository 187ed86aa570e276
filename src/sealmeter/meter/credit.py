"""The credit frame and the relay: when the module must block the output, and when it may not.

The seed: if no authentic enable code arrives before the credit frame runs out, the usage
counter "is blocked for the output of usage values"; an authentic enable code resets the
outstanding charge to zero. A credit frame is a time limit (the enable code must be renewed by
then), a charge limit (outstanding, unconfirmed charge), or both.

The relay is a table-driven machine. A server `BLOCK` command wins over enable codes (only an
`UNBLOCK` command lifts it); a credit block is lifted by an authentic enable code:

    SUPPLYING      --credit exceeded--> BLOCKED_CREDIT --enable code--> SUPPLYING
    any            --block command----> BLOCKED_COMMAND --unblock----> SUPPLYING

The relay state is stored in NVM by the module, so a block survives power cycles.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sealmeter.meter.errors import MeterConfigError
from sealmeter.meter.fsm import Table

__all__ = ["CreditFrame", "CreditGrant", "RelayEvent", "RelayState", "relay_after"]


class RelayState(enum.Enum):
    """Whether the commodity flows, and if not, why."""

    SUPPLYING = "supplying"
    BLOCKED_CREDIT = "blocked-credit"
    BLOCKED_COMMAND = "blocked-command"


class RelayEvent(enum.Enum):
    """What moves the relay."""

    CREDIT_EXCEEDED = "credit-exceeded"
    ENABLE_CODE = "enable-code"
    BLOCK_COMMAND = "block-command"
    UNBLOCK_COMMAND = "unblock-command"


TABLE: Table[RelayState, RelayEvent] = Table(
    "relay",
    {
        RelayState.SUPPLYING: {
            RelayEvent.CREDIT_EXCEEDED: RelayState.BLOCKED_CREDIT,
            RelayEvent.ENABLE_CODE: RelayState.SUPPLYING,
            RelayEvent.BLOCK_COMMAND: RelayState.BLOCKED_COMMAND,
            RelayEvent.UNBLOCK_COMMAND: RelayState.SUPPLYING,
        },
        RelayState.BLOCKED_CREDIT: {
            RelayEvent.CREDIT_EXCEEDED: RelayState.BLOCKED_CREDIT,
            RelayEvent.ENABLE_CODE: RelayState.SUPPLYING,
            RelayEvent.BLOCK_COMMAND: RelayState.BLOCKED_COMMAND,
            RelayEvent.UNBLOCK_COMMAND: RelayState.SUPPLYING,
        },
        RelayState.BLOCKED_COMMAND: {
            RelayEvent.CREDIT_EXCEEDED: RelayState.BLOCKED_COMMAND,
            RelayEvent.ENABLE_CODE: RelayState.BLOCKED_COMMAND,
            RelayEvent.BLOCK_COMMAND: RelayState.BLOCKED_COMMAND,
            RelayEvent.UNBLOCK_COMMAND: RelayState.SUPPLYING,
        },
    },
)


def relay_after(state: RelayState, event: RelayEvent) -> RelayState:
    """The relay state after `event` (see the table in this module's docstring)."""
    return TABLE.fire(state, event)


@dataclass(frozen=True)
class CreditFrame:
    """How long and/or how much a meter may run without an authentic enable code.

    `duration`: time from the enable code to the block (None: no time limit);
    `charge_limit`: outstanding charge above which the meter blocks (None: no charge limit).
    At least one must be set.
    """

    duration: timedelta | None = timedelta(days=7)
    charge_limit: Decimal | None = None

    def __post_init__(self) -> None:
        """Reject a frame with no limit at all or with non-positive limits."""
        if self.duration is None and self.charge_limit is None:
            raise MeterConfigError(
                "a credit frame needs a duration, a charge limit or both; "
                "without either the meter could run unconfirmed for ever"
            )
        if self.duration is not None and self.duration <= timedelta(0):
            raise MeterConfigError(f"credit frame duration {self.duration} must be positive")
        if self.charge_limit is not None and self.charge_limit <= 0:
            raise MeterConfigError(f"credit frame charge limit {self.charge_limit} must be > 0")


@dataclass(frozen=True)
class CreditGrant:
    """The credit in force: granted at `granted_at` with `frame`; ends at `expires_at`."""

    granted_at: datetime
    frame: CreditFrame

    @property
    def expires_at(self) -> datetime | None:
        """When the time limit runs out (None if the frame has no time limit)."""
        if self.frame.duration is None:
            return None
        return self.granted_at + self.frame.duration

    def exceeded(self, now: datetime, outstanding: Decimal) -> bool:
        """Whether the frame is exceeded at `now` with `outstanding` unconfirmed charge."""
        expires = self.expires_at
        if expires is not None and now >= expires:
            return True
        limit = self.frame.charge_limit
        return limit is not None and outstanding > limit

    def remaining(
        self, now: datetime, outstanding: Decimal
    ) -> tuple[timedelta | None, Decimal | None]:
        """Time and charge left before the block (None where the frame sets no such limit)."""
        expires = self.expires_at
        time_left = None if expires is None else max(expires - now, timedelta(0))
        limit = self.frame.charge_limit
        charge_left = None if limit is None else max(limit - outstanding, Decimal(0))
        return time_left, charge_left
