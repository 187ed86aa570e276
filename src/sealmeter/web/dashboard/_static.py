"""The dashboard's stylesheet and icon, served from memory (no CDN: it works offline)."""

from __future__ import annotations

__all__ = ["APP_CSS", "ICON_SVG"]

ICON_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">'
    '<circle cx="16" cy="16" r="14" fill="#1f4e79"/>'
    '<path d="M10 17l4 4 8-10" stroke="#fff" stroke-width="3" fill="none"/></svg>'
)

APP_CSS = """
:root { --ink: #1d2733; --muted: #687385; --line: #d9dee5; --bg: #f6f7f9; --brand: #1f4e79; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, sans-serif; color: var(--ink); background: var(--bg); }
header { display: flex; align-items: center; gap: 24px; padding: 10px 24px;
         background: var(--brand); color: #fff; }
header a { color: #dce8f5; text-decoration: none; margin-right: 16px; }
header a.active { color: #fff; font-weight: 600; border-bottom: 2px solid #fff; }
.brand { font-weight: 700; }
.logout { margin-left: auto; }
.logout .muted { color: #dce8f5; }
main { padding: 16px 24px 48px; max-width: 1100px; }
h1 { font-size: 22px; margin: 8px 0 16px; }
h2 { font-size: 17px; margin: 28px 0 10px; }
section > h2:first-child { margin-top: 4px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 6px;
          padding: 12px 16px; margin-bottom: 16px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line); }
th { color: var(--muted); font-weight: 600; }
.muted, .empty { color: var(--muted); }
.cards { display: flex; flex-wrap: wrap; gap: 12px; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 10px 16px;
        min-width: 130px; color: inherit; text-decoration: none; }
.card .count { font-size: 28px; font-weight: 700; display: block; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px;
         background: #e6e9ee; }
.state-reporting, .state-active, .state-info, .state-reconciled { background: #d7f0dd; }
.state-silent, .state-warning, .state-never-seen, .state-provisioned { background: #fbefc9; }
.state-expected-blocked, .state-blocked, .state-critical, .state-mismatch { background: #f8d3d0; }
.state-tampered { background: #e9c7f2; }
.state-decommissioned { background: #dcdcdc; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 0; }
dl.facts dt { color: var(--muted); }
svg.chart { max-width: 100%; height: auto; background: #fff; }
svg .grid { stroke: var(--line); stroke-width: 1; }
svg .axis { fill: var(--muted); font-size: 11px; }
.band-0 { fill: #1f77b4; background: #1f77b4; } .band-1 { fill: #ff7f0e; background: #ff7f0e; }
.band-2 { fill: #2ca02c; background: #2ca02c; } .band-3 { fill: #d62728; background: #d62728; }
.band-4 { fill: #9467bd; background: #9467bd; } .band-5 { fill: #8c564b; background: #8c564b; }
.band-6 { fill: #e377c2; background: #e377c2; } .band-7 { fill: #7f7f7f; background: #7f7f7f; }
.sev-info { fill: #2c7fb8; } .sev-warning { fill: #f0a202; } .sev-critical { fill: #c0392b; }
ul.legend { list-style: none; padding: 0; display: flex; gap: 16px; flex-wrap: wrap; }
.swatch { display: inline-block; width: 12px; height: 12px; margin-right: 6px;
          vertical-align: -1px; }
form.login { display: grid; gap: 8px; max-width: 520px; }
input[type=password] { padding: 6px; font: inherit; }
.error { color: #c0392b; }
.pager { margin-top: 8px; }
form.ack { margin: 0; }
"""
