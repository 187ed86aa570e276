"""The offline HTML report of a run: consumption by band, alerts over time, and the ledger.

One self-contained file (inline CSS and SVG, no scripts, no network), so it opens anywhere.
`render_report` is pure: a `Ledger` in, HTML text out.
"""

from __future__ import annotations

from html import escape
from typing import Any

from sealmeter.sim.ledger import Ledger

__all__ = ["bar_chart_svg", "column_chart_svg", "render_report"]

_PALETTE = ["#2b6cb0", "#dd6b20", "#38a169", "#d53f8c", "#805ad5", "#d69e2e", "#319795", "#e53e3e"]
_MAX_ROWS = 500
_INCIDENT_HEAD = [
    "#",
    "category",
    "kind",
    "meter",
    "at",
    "outcome",
    "detected by",
    "reason",
    "detected at",
]


def bar_chart_svg(values: dict[str, float], unit: str, width: int = 640) -> str:
    """Horizontal bars, one per label, scaled to the largest value; labels and values shown."""
    if not values:
        return '<p class="empty">nothing to chart</p>'
    top = max(values.values()) or 1.0
    row = 26
    height = row * len(values) + 10
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="bar chart in {escape(unit)}">'
    ]
    for i, (label, value) in enumerate(values.items()):
        y = 5 + i * row
        w = int((width - 260) * value / top)
        parts.append(
            f'<text x="0" y="{y + 17}" font-size="13">{escape(label)}</text>'
            f'<rect x="140" y="{y + 3}" width="{max(w, 1)}" height="18" '
            f'fill="{_PALETTE[i % len(_PALETTE)]}"><title>{escape(label)}: {value:,.1f} '
            f"{escape(unit)}</title></rect>"
            f'<text x="{146 + w}" y="{y + 17}" font-size="12">{value:,.1f} {escape(unit)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def column_chart_svg(
    series: dict[str, dict[int, float]], days: int, unit: str, width: int = 720, height: int = 220
) -> str:
    """Stacked columns per day (x: day 0..days-1), one colour per series, with a legend."""
    if not series or days <= 0:
        return '<p class="empty">nothing to chart</p>'
    totals = [sum(s.get(d, 0.0) for s in series.values()) for d in range(days)]
    top = max(totals) or 1.0
    plot_h = height - 40
    col = (width - 50) / days
    full_h = height + 20 * ((len(series) + 3) // 4)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{full_h}" '
        f'role="img" aria-label="per-day chart in {escape(unit)}">',
        f'<line x1="45" y1="{plot_h}" x2="{width}" y2="{plot_h}" stroke="#999"/>',
        f'<text x="0" y="12" font-size="11">{top:,.0f}</text>',
        f'<text x="0" y="{plot_h}" font-size="11">0</text>',
        f'<text x="45" y="{plot_h + 14}" font-size="11">day 0</text>',
        f'<text x="{width - 50}" y="{plot_h + 14}" font-size="11">day {days - 1}</text>',
    ]
    names = list(series)
    for d in range(days):
        base = float(plot_h)
        for i, name in enumerate(names):
            v = series[name].get(d, 0.0)
            if v <= 0:
                continue
            h = (plot_h - 10) * v / top
            base -= h
            parts.append(
                f'<rect x="{45 + d * col:.1f}" y="{base:.1f}" width="{max(col - 1, 0.5):.1f}" '
                f'height="{h:.1f}" fill="{_PALETTE[i % len(_PALETTE)]}"><title>day {d}: '
                f"{escape(name)} {v:,.0f} {escape(unit)}</title></rect>"
            )
    for i, name in enumerate(names):
        x = 45 + (i % 4) * 170
        y = plot_h + 34 + 20 * (i // 4)
        colour = _PALETTE[i % len(_PALETTE)]
        parts.append(
            f'<rect x="{x}" y="{y - 10}" width="12" height="12" fill="{colour}"/>'
            f'<text x="{x + 16}" y="{y}" font-size="12">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _table(rows: list[list[Any]], head: list[str]) -> str:
    out = ["<table><thead><tr>", *(f"<th>{escape(h)}</th>" for h in head), "</tr></thead><tbody>"]
    for row in rows:
        out.append("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def render_report(ledger: Ledger) -> str:
    """The whole report as one HTML document."""
    data = ledger.as_json()
    ok = (
        data["units_lost"] == 0
        and data["units_invented"] == 0
        and data["attacks"]["accepted"] == 0
        and data["faults"]["survived"] == data["faults"]["injected"]
        and data["meters_stuck"] == 0
    )
    verdict = (
        '<p class="ok">Conservation exact, every attack rejected, every fault survived.</p>'
        if ok
        else '<p class="bad">The run found a failure: see the ledger below.</p>'
    )
    units = data["units"]
    unit_rows = [
        ["measured", units["measured"]],
        ["counted by meters", units["counted"]],
        ["stored at the head-end", units["stored"]],
        ["still queued on meters", units["queued"]],
        ["lost", data["units_lost"]],
        ["invented", data["units_invented"]],
    ]
    fault_rows = [
        [k, v.get("injected", 0), v.get("survived", 0) + v.get("rejected", 0), v.get("lost", 0)]
        for k, v in data["faults"]["by_kind"].items()
    ]
    attack_rows = [
        [k, v.get("tried", 0), v.get("rejected", 0), v.get("accepted", 0)]
        for k, v in data["attacks"]["by_kind"].items()
    ]
    incidents = [
        [
            i.index,
            i.category,
            i.kind,
            i.meter,
            i.at.isoformat(timespec="minutes"),
            i.outcome.value,
            i.detected_by or "",
            i.reason or "",
            i.detected_at.isoformat(timespec="minutes") if i.detected_at else "",
        ]
        for i in ledger.incidents[:_MAX_ROWS]
    ]
    more = len(ledger.incidents) - len(incidents)
    alert_series: dict[str, dict[int, float]] = {}
    for day, counter in ledger.alerts_by_day.items():
        for kind, n in counter.items():
            alert_series.setdefault(kind, {})[day] = float(n)
    bills = [
        [
            b.customer,
            b.meters,
            f"{b.units:,} Wh",
            f"{b.charge:,.2f} {b.currency}",
            "yes" if b.reconciled else "NO",
        ]
        for b in ledger.bills[:_MAX_ROWS]
    ]
    blocks = [[at.isoformat(timespec="minutes"), m, what] for at, m, what in ledger.block_events]
    daily = {"units": {d: float(v) for d, v in ledger.units_by_day.items()}}
    title = f"sealmeter simulation: {ledger.scenario}, {ledger.meters} meters, {ledger.days} days"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 1000px; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 13px; }}
th, td {{ border: 1px solid #ccc; padding: 3px 8px; text-align: left; }}
th {{ background: #f3f3f3; }}
.ok {{ color: #276749; font-weight: bold; }} .bad {{ color: #c53030; font-weight: bold; }}
.empty {{ color: #888; }}
</style></head><body>
<h1>{escape(title)}</h1>
<p>Transport {escape(ledger.transport)}, store {escape(ledger.store)}, seed {ledger.seed},
{data["registrations"]:,} registrations in {data["uplinks"]:,} uplinks, wall time
{data["wall_s"]} s.</p>
{verdict}
<h2>Units</h2>{_table(unit_rows, ["accounting point", "units"])}
<h2>Consumption by band</h2>{bar_chart_svg(dict(sorted(ledger.usage_by_band.items())), "units")}
<h2>Fleet consumption per day</h2>
{column_chart_svg(daily, ledger.days, "units")}
<h2>Alerts over time</h2>{column_chart_svg(alert_series, ledger.days, "alerts")}
<h2>Faults injected</h2>{_table(fault_rows, ["kind", "injected", "survived or rejected", "lost"])}
<h2>Attacks mounted</h2>{_table(attack_rows, ["kind", "tried", "rejected", "accepted"])}
<h2>Meters stuck after recovery</h2>
{_table([[m, why] for m, why in sorted(ledger.stuck.items())], ["meter", "last rejection"])}
<h2>Meters blocked and unblocked</h2>
<p>{data["blocks"]["blocked"]} meters blocked, {data["blocks"]["unblocked"]} unblocked.</p>
{_table(blocks[:_MAX_ROWS], ["when", "meter", "event"])}
<h2>Bills</h2>{_table(bills, ["customer", "meters", "usage", "charge", "reconciled"])}
<h2>Every fault and attack</h2>
{_table(incidents, _INCIDENT_HEAD)}
{f"<p>{more} more incidents are in the JSON ledger.</p>" if more > 0 else ""}
</body></html>
"""
