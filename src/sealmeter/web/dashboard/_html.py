"""Small HTML building blocks for the dashboard: the page frame, tables, badges, times.

Everything user- or meter-supplied goes through `html.escape`; pages carry no script and no
inline style, so a strict Content-Security-Policy holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from html import escape
from urllib.parse import quote

__all__ = ["CSP", "badge", "link", "page", "table", "when"]

CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)

_NAV = (("Fleet", "/ui/"), ("Alerts", "/ui/alerts"), ("API", "/ui/api"))


def when(instant: datetime | None) -> str:
    """An instant as ``YYYY-MM-DD HH:MM:SS UTC`` inside a <time> element; a dash if None."""
    if instant is None:
        return '<span class="muted">never</span>'
    return (
        f'<time datetime="{instant.isoformat()}">{instant.strftime("%Y-%m-%d %H:%M:%S")} UTC</time>'
    )


def badge(state: str) -> str:
    """A coloured label for a fleet state, severity or lifecycle state."""
    safe = escape(state)
    css = "".join(c if c.isalnum() else "-" for c in state)
    return f'<span class="badge state-{css}">{safe.replace("_", " ")}</span>'


def link(text: str, href: str) -> str:
    """An anchor with escaped text and href."""
    return f'<a href="{escape(href)}">{escape(text)}</a>'


def meter_href(meter_id: str) -> str:
    """The dashboard page of one meter."""
    return "/ui/meters/" + quote(meter_id, safe="")


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, empty: str) -> str:
    """A table whose cells are already-safe HTML; `empty` is shown when there are no rows."""
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    if not body:
        return f'<p class="empty">{escape(empty)}</p>'
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def page(
    title: str, body: str, *, active: str = "", who: str | None = None, refresh: int = 0
) -> str:
    """A whole dashboard page: head, navigation, the body (already-safe HTML).

    `refresh` (seconds, 0 for never) reloads the page on its own, for a wall display.
    """
    nav = "".join(
        f'<a class="{"active" if name == active else ""}" href="{href}">{name}</a>'
        for name, href in _NAV
    )
    account = ""
    if who is not None:
        account = (
            f'<form class="logout" method="post" action="/ui/logout">'
            f'<span class="muted">{escape(who)}</span> <button type="submit">Log out</button>'
            "</form>"
        )
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        + (f'<meta http-equiv="refresh" content="{int(refresh)}">' if refresh > 0 else "")
        + f"<title>{escape(title)} · sealmeter</title>"
        '<link rel="icon" href="/ui/static/icon.svg" type="image/svg+xml">'
        '<link rel="stylesheet" href="/ui/static/app.css">'
        "</head><body>"
        f'<header><span class="brand">sealmeter head-end</span><nav>{nav}</nav>{account}</header>'
        f"<main><h1>{escape(title)}</h1>{body}</main>"
        "</body></html>\n"
    )
