"""Errors of the fleet simulator."""

from __future__ import annotations

from sealmeter.errors import EnvironmentFault, UsageError

__all__ = ["ScenarioError", "SimError", "SimSetupFault"]


class SimError(UsageError):
    """The simulator was asked for something it cannot do (bad options); fix the request."""


class ScenarioError(SimError):
    """A scenario file is missing, unreadable or wrong; the message names the file and key."""


class SimSetupFault(EnvironmentFault):
    """A service the simulation needs (broker, database, HTTP server) failed to start."""
