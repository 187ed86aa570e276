"""Watching the fleet: silent meters, meters past their credit frame, outages vs removals.

A meter silent past its reporting interval (plus a grace) raises a `silent` alert; past its
credit frame it has blocked itself and is marked `expected_blocked`. A power loss reported by
at least `outage_min_meters` meters of one feeder within `outage_window` is an outage (one
alert for the feeder); a lone one is a suspected removal of that meter.
"""

from __future__ import annotations

from datetime import datetime

from sealmeter.headend._policy import Policy
from sealmeter.store import (
    MAX_PAGE,
    AlertKind,
    AlertRecord,
    FleetState,
    FleetSummary,
    MeterRecord,
    MeterState,
    NewAlert,
    Severity,
    Store,
    walk_pages,
)
from sealmeter.store._convert import to_us

__all__ = ["fleet_state", "fleet_summary", "watch_fleet"]


def fleet_state(
    meter: MeterRecord, policy: Policy, now: datetime, tampered: bool = False
) -> FleetState:
    """How `meter` looks from the fleet view at `now`."""
    if meter.state is MeterState.DECOMMISSIONED:
        return FleetState.DECOMMISSIONED
    if meter.state is MeterState.BLOCKED:
        return FleetState.BLOCKED
    if tampered:
        return FleetState.TAMPERED
    if meter.last_seen is None:
        return FleetState.NEVER_SEEN
    quiet = now - meter.last_seen
    if quiet > meter.credit_frame:
        return FleetState.EXPECTED_BLOCKED
    if quiet > meter.report_interval + policy.silence_grace:
        return FleetState.SILENT
    return FleetState.REPORTING


def fleet_summary(store: Store, policy: Policy, now: datetime) -> FleetSummary:
    """Count the meters in each fleet state."""
    tampered = store.open_tamper_meters()
    counts = dict.fromkeys(FleetState, 0)
    for meter in store.all_meters():
        counts[fleet_state(meter, policy, now, meter.meter_id in tampered)] += 1
    return FleetSummary(now, counts)


def watch_fleet(store: Store, policy: Policy, now: datetime) -> list[AlertRecord]:
    """Raise the alerts the fleet deserves at `now`; return those that are new."""
    before = store.last_alert_id()
    alerts: list[NewAlert] = []
    for meter in store.all_meters():
        state = fleet_state(meter, policy, now)
        if meter.last_seen is None:
            continue
        seen = to_us(meter.last_seen)
        if state is FleetState.EXPECTED_BLOCKED:
            alerts.append(
                NewAlert(
                    AlertKind.EXPECTED_BLOCKED,
                    Severity.CRITICAL,
                    meter.meter_id,
                    meter.feeder or None,
                    f"silent since {meter.last_seen.isoformat()}, past its credit frame of "
                    f"{meter.credit_frame}: the meter has blocked itself",
                    meter.last_seen + meter.credit_frame,
                    now,
                    f"expected_blocked:{meter.meter_id}:{seen}",
                )
            )
        if state in (FleetState.SILENT, FleetState.EXPECTED_BLOCKED):
            alerts.append(
                NewAlert(
                    AlertKind.SILENT,
                    Severity.WARNING,
                    meter.meter_id,
                    meter.feeder or None,
                    f"no report since {meter.last_seen.isoformat()} (expected every "
                    f"{meter.report_interval})",
                    meter.last_seen + meter.report_interval + policy.silence_grace,
                    now,
                    f"silent:{meter.meter_id}:{seen}",
                )
            )
    if alerts:
        store.raise_alerts(alerts)
    _classify_power_losses(store, policy, now)
    # every alert raised above, however many (a feeder-wide outage can silence thousands)
    first = str(before) if before else None
    return list(walk_pages(lambda c: store.list_alerts(cursor=c or first, limit=MAX_PAGE)))


def _classify_power_losses(store: Store, policy: Policy, now: datetime) -> None:
    pending = store.unclassified_power_events(now - policy.settle)
    if not pending:
        return
    labels: dict[int, str] = {}
    alerts: list[NewAlert] = []
    for event in pending:
        if event.event_id in labels:
            continue
        near = store.power_events_near(
            event.feeder, event.at - policy.outage_window, event.at + policy.outage_window
        )
        meters = {e.meter_id for e in near}
        if event.feeder and len(meters) >= policy.outage_min_meters:
            first = min(e.at for e in near)
            for e in near:
                labels[e.event_id] = "outage"
            alerts.append(
                NewAlert(
                    AlertKind.OUTAGE,
                    Severity.WARNING,
                    None,
                    event.feeder,
                    f"{len(meters)} meters of feeder {event.feeder} lost power around "
                    f"{first.isoformat()}: a supply outage",
                    first,
                    now,
                    f"outage:{event.feeder}:{to_us(first)}",
                )
            )
        else:
            labels[event.event_id] = "suspected_removal"
            alerts.append(
                NewAlert(
                    AlertKind.SUSPECTED_REMOVAL,
                    Severity.CRITICAL,
                    event.meter_id,
                    event.feeder or None,
                    f"meter {event.meter_id} alone lost power at {event.at.isoformat()} "
                    "(no neighbour on its feeder did): suspected removal or bypass",
                    event.at,
                    now,
                    f"suspected_removal:{event.meter_id}:{to_us(event.at)}",
                )
            )
    store.classify_power_events(labels, alerts)
