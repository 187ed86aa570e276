"""Charts for the dashboard as inline SVG strings: pure functions, no script, no network.

`bucket_usage` sums registrations' usage per tariff band into equal time buckets;
`band_chart` draws them as stacked bars; `alert_timeline` places alerts on a time axis, one
row per kind. Colours come from CSS classes (``band-0``...), so the page's stylesheet rules.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from html import escape

from sealmeter.store import AlertRecord, RegistrationRecord

__all__ = ["UsageBucket", "alert_timeline", "band_chart", "bucket_usage", "nice_step"]

_BANDS_STYLED = 8


@dataclass(frozen=True, slots=True)
class UsageBucket:
    """Usage per band in the time span [start, end)."""

    start: datetime
    end: datetime
    usage: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """All bands together."""
        return sum(self.usage.values())


def bucket_usage(
    registrations: Sequence[RegistrationRecord], buckets: int = 24
) -> tuple[list[UsageBucket], list[str]]:
    """Sum usage per band into at most `buckets` equal spans of the registrations' times.

    Returns the buckets (oldest first) and the band names in first-seen order. The sum of all
    buckets equals the sum of all registrations: nothing is dropped at the edges.
    """
    if not registrations:
        return [], []
    bands: list[str] = []
    for reg in registrations:
        for reading in reg.registers:
            if reading.register not in bands:
                bands.append(reading.register)
    first = min(r.time for r in registrations)
    last = max(r.time for r in registrations)
    span = last - first
    count = max(1, min(buckets, len(registrations))) if span > timedelta(0) else 1
    width = span / count if span > timedelta(0) else timedelta(hours=1)
    edges = [first + width * i for i in range(count + 1)]
    edges[-1] = max(edges[-1], last + timedelta(microseconds=1))
    out = [UsageBucket(edges[i], edges[i + 1], {}) for i in range(count)]
    for reg in registrations:
        index = min(count - 1, int((reg.time - first) / width)) if span else 0
        for reading in reg.registers:
            usage = out[index].usage
            usage[reading.register] = usage.get(reading.register, 0) + reading.usage
    return out, bands


def nice_step(maximum: float, lines: int = 4) -> float:
    """A round grid step (1, 2 or 5 times a power of ten) so `lines` steps cover `maximum`."""
    if maximum <= 0:
        return 1.0
    raw = maximum / lines
    power = 10.0 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5):
        if power * factor >= raw:
            return power * factor
    return power * 10


def _fmt(value: float) -> str:
    if value >= 1_000_000:
        return f"{value / 1_000_000:g}M"
    if value >= 1_000:
        return f"{value / 1_000:g}k"
    return f"{value:g}"


def _label_time(when: datetime, span: timedelta) -> str:
    return when.strftime("%Y-%m-%d %H:%M" if span < timedelta(days=3) else "%Y-%m-%d")


def band_chart(
    buckets: Sequence[UsageBucket],
    bands: Sequence[str],
    *,
    unit: str = "Wh",
    width: int = 760,
    height: int = 260,
) -> str:
    """Stacked bars of usage per band over time, with a legend; an empty note if no data."""
    if not buckets:
        return '<p class="empty">No registrations yet: nothing to chart.</p>'
    left, right, top, bottom = 56, 12, 12, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max(b.total for b in buckets)
    step = nice_step(peak)
    ceiling = step * max(1, math.ceil(peak / step))
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" aria-label="Usage per tariff band over time">',
        "<title>Usage per tariff band over time</title>",
    ]
    value = 0.0
    while value <= ceiling + 1e-9:
        y = top + plot_h - plot_h * value / ceiling
        parts.append(
            f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="axis" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{_fmt(value)}</text>"
        )
        value += step
    slot = plot_w / len(buckets)
    bar = max(1.0, slot * 0.8)
    for i, bucket in enumerate(buckets):
        x = left + slot * i + (slot - bar) / 2
        y = top + plot_h
        for b, band in enumerate(bands):
            amount = bucket.usage.get(band, 0)
            if amount <= 0:
                continue
            h = plot_h * amount / ceiling
            y -= h
            tip = (
                f"{band}: {amount} {unit} "
                f"({bucket.start:%Y-%m-%d %H:%M} to {bucket.end:%Y-%m-%d %H:%M} UTC)"
            )
            parts.append(
                f'<rect class="band-{b % _BANDS_STYLED}" x="{x:.1f}" y="{y:.1f}" '
                f'width="{bar:.1f}" height="{h:.1f}"><title>{escape(tip)}</title></rect>'
            )
    span = buckets[-1].end - buckets[0].start
    for i in sorted({0, len(buckets) // 2, len(buckets) - 1}):
        x = left + slot * i + slot / 2
        anchor = "start" if i == 0 else "end" if i == len(buckets) - 1 else "middle"
        parts.append(
            f'<text class="axis" x="{x:.1f}" y="{top + plot_h + 16}" text-anchor="{anchor}">'
            f"{_label_time(buckets[i].start, span)}</text>"
        )
    parts.append(f'<text class="axis" x="{left}" y="{height - 6}">{escape(unit)} per bucket</text>')
    parts.append("</svg>")
    legend = "".join(
        f'<li><span class="swatch band-{b % _BANDS_STYLED}"></span>{escape(band)}: '
        f"{sum(k.usage.get(band, 0) for k in buckets)} {escape(unit)}</li>"
        for b, band in enumerate(bands)
    )
    return "".join(parts) + f'<ul class="legend">{legend}</ul>'


def alert_timeline(
    alerts: Sequence[AlertRecord],
    *,
    width: int = 760,
    row: int = 22,
) -> str:
    """Alerts on a time axis, one row per kind, dots coloured by severity."""
    if not alerts:
        return '<p class="empty">No alerts: the fleet is quiet.</p>'
    kinds = sorted({a.kind.value for a in alerts})
    left, right, top = 140, 16, 8
    height = top + row * len(kinds) + 30
    first = min(a.occurred_at for a in alerts)
    last = max(a.occurred_at for a in alerts)
    span = (last - first) or timedelta(hours=1)
    plot_w = width - left - right
    parts = [
        f'<svg class="chart timeline" role="img" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" aria-label="Alerts over time">',
        "<title>Alerts over time</title>",
    ]
    for i, kind in enumerate(kinds):
        y = top + row * i + row / 2
        parts.append(
            f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y}" y2="{y}"/>'
            f'<text class="axis" x="{left - 8}" y="{y + 4}" text-anchor="end">'
            f"{escape(kind)}</text>"
        )
    for alert in alerts:
        y = top + row * kinds.index(alert.kind.value) + row / 2
        x = left + plot_w * ((alert.occurred_at - first) / span)
        who = alert.meter_id or alert.feeder or "fleet"
        tip = f"{alert.occurred_at:%Y-%m-%d %H:%M} {alert.kind.value} ({who}): {alert.detail}"
        parts.append(
            f'<circle class="sev-{alert.severity.value}" cx="{x:.1f}" cy="{y}" r="5">'
            f"<title>{escape(tip)}</title></circle>"
        )
    axis_y = top + row * len(kinds) + 18
    parts.append(
        f'<text class="axis" x="{left}" y="{axis_y}">{_label_time(first, span)}</text>'
        f'<text class="axis" x="{width - right}" y="{axis_y}" text-anchor="end">'
        f"{_label_time(last, span)}</text></svg>"
    )
    return "".join(parts)
