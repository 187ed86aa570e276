"""Errors of the security module, split by whose fault they are (see `sealmeter.errors`)."""

from __future__ import annotations

from sealmeter.errors import EnvironmentFault, PeerError, UsageError

__all__ = [
    "DownlinkRejected",
    "IllegalTransition",
    "MeterConfigError",
    "MeterStorageFault",
    "NotProvisioned",
    "RegistrationLogFull",
]


class IllegalTransition(UsageError):
    """A state machine was asked to make a move its table does not allow.

    Raised by `sealmeter.meter` state machines; the message names the machine, the state and the
    event. It means the caller drove the module out of order: fix the calling sequence.
    """

    def __init__(self, machine: str, state: str, event: str) -> None:
        """Name the machine, the state it was in and the event that has no move from there."""
        super().__init__(
            f"{machine}: event {event!r} is not allowed in state {state!r}; "
            "check the order in which the module is driven"
        )
        self.machine = machine
        self.state = state
        self.event = event


class MeterConfigError(UsageError):
    """A meter setting is out of range or inconsistent; the message names the setting."""


class NotProvisioned(UsageError):
    """The module was asked to seal or open data before its keys were generated (provision it)."""


class DownlinkRejected(PeerError):
    """A downlink (enable code, schedule, command) was not accepted and changed nothing.

    `reason` says precisely why (forged, replayed, expired, wrong meter, stale schedule, ...);
    it is for the operator and the status log. Towards the sender the answer stays opaque.
    """

    def __init__(self, reason: str, detail: str) -> None:
        """Record the machine-readable `reason` and a human `detail`."""
        super().__init__(
            f"downlink rejected ({reason}): {detail}; nothing was changed, the meter keeps its "
            "previous state and will call again"
        )
        self.reason = reason
        self.detail = detail


class MeterStorageFault(EnvironmentFault):
    """The module's non-volatile memory lost a record beyond what its redundancy can repair.

    Both copies of a record failed their redundancy codes (worn-out or damaged memory). The
    module cannot go on safely: replace the module; the head-end still holds acknowledged data.
    """


class RegistrationLogFull(EnvironmentFault):
    """The bounded registration log has no free entry (nothing acknowledged for too long).

    The module keeps counting units in its tear-safe counter and defers the registration; it
    is freed as soon as the head-end acknowledges queued registrations.
    """
