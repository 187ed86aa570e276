"""The fleet simulator: meters and a head-end over real carriers, with faults and attacks.

`load_scenario(name)` reads a shipped scenario (`normal`, `outages`, `tamper`, `network`,
`attacks`, `crash`, `all`) or your own TOML file; `run_simulation(world, options)` drives a
`World` (meters, head-end, attacker, load) through it on a simulated clock and returns the
`Ledger`; `render_report(ledger)` gives the offline HTML report and `summary_table(ledger)`
the terminal summary. See docs/sim.md.
"""

from __future__ import annotations

from sealmeter.sim.engine import Progress, SimOptions, run_simulation
from sealmeter.sim.errors import ScenarioError, SimError, SimSetupFault
from sealmeter.sim.ledger import BillLine, Incident, Ledger, MeterUnits, Outcome
from sealmeter.sim.report import render_report
from sealmeter.sim.scenario import (
    AttackKind,
    AttackSpec,
    CrashPoint,
    CrashSpec,
    FleetSpec,
    NetworkOutage,
    PowerOutage,
    Scenario,
    TamperAct,
    TamperSpec,
    list_scenarios,
    load_scenario,
    parse_scenario,
)
from sealmeter.sim.summary import progress_bar, summary_table
from sealmeter.sim.world import Attacker, LoadSource, SimHeadEnd, SimMeter, Verdict, World

__all__ = [
    "AttackKind",
    "AttackSpec",
    "Attacker",
    "BillLine",
    "CrashPoint",
    "CrashSpec",
    "FleetSpec",
    "Incident",
    "Ledger",
    "LoadSource",
    "MeterUnits",
    "NetworkOutage",
    "Outcome",
    "PowerOutage",
    "Progress",
    "Scenario",
    "ScenarioError",
    "SimError",
    "SimHeadEnd",
    "SimMeter",
    "SimOptions",
    "SimSetupFault",
    "TamperAct",
    "TamperSpec",
    "Verdict",
    "World",
    "list_scenarios",
    "load_scenario",
    "parse_scenario",
    "progress_bar",
    "render_report",
    "run_simulation",
    "summary_table",
]
