"""Errors of the head-end logic, split by whose fault they are."""

from __future__ import annotations

from sealmeter.errors import EnvironmentFault, PeerError, UsageError
from sealmeter.store._records import RejectionReason

__all__ = [
    "BadTransition",
    "HeadEndError",
    "KeyStoreError",
    "KeyStoreLocked",
    "RejectedUplink",
    "ScheduleError",
]


class HeadEndError(UsageError):
    """The operator asked for something the head-end cannot do; the message says why."""


class BadTransition(HeadEndError):
    """A meter cannot move from its lifecycle state by this event (e.g. unblock an active meter)."""

    def __init__(self, meter_id: str, state: str, event: str) -> None:
        """Name the meter, its state and the refused event."""
        super().__init__(
            f"meter {meter_id!r} is {state}; it cannot be {event}. List the meter to see its "
            "state and choose an allowed action"
        )
        self.meter_id = meter_id
        self.state = state
        self.event = event


class ScheduleError(HeadEndError):
    """A rate schedule could not be published (bad file, older version, unknown schedule)."""


class KeyStoreError(EnvironmentFault):
    """The box's key file or PKCS#11 token could not be read or written; the message says why."""


class KeyStoreLocked(UsageError):
    """The passphrase or PIN for the box's keys is missing or wrong; supply the right one."""


class RejectedUplink(PeerError):
    """An uplink was refused; `reason` is precise for the operator, never shown to the sender."""

    def __init__(self, reason: RejectionReason, detail: str, meter_id: str | None = None) -> None:
        """Record the precise reason, a human detail and the claimed meter (if known)."""
        super().__init__(f"uplink rejected ({reason.value}): {detail}")
        self.reason = reason
        self.detail = detail
        self.meter_id = meter_id
