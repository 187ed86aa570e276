"""Table-driven state machines: one enum of states, one of events, a dict of moves.

Every state machine of the security module is a `Table`: `state -> event -> next state`.
A move not in the table raises `IllegalTransition` naming the machine, state and event
(STYLE.md #2), so the tables can be read, printed and tested as data.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Generic, TypeVar

from sealmeter.meter.errors import IllegalTransition

__all__ = ["Table"]

S = TypeVar("S", bound=enum.Enum)
E = TypeVar("E", bound=enum.Enum)


class Table(Generic[S, E]):
    """The transition table of one state machine."""

    def __init__(self, name: str, moves: Mapping[S, Mapping[E, S]]) -> None:
        """Keep the `moves` of machine `name`; every state must appear as a key."""
        self.name = name
        self._moves = {state: dict(row) for state, row in moves.items()}

    def fire(self, state: S, event: E) -> S:
        """Return the state after `event` in `state`, or raise `IllegalTransition`."""
        row = self._moves.get(state)
        if row is None or event not in row:
            raise IllegalTransition(self.name, state.name, event.name)
        return row[event]

    def allows(self, state: S, event: E) -> bool:
        """Whether `event` is a legal move in `state` (for callers that must not raise)."""
        return event in self._moves.get(state, {})

    def states(self) -> list[S]:
        """The states that have a row in the table."""
        return list(self._moves)
