"""The dashboard's pages, served by the API process under ``/ui/``.

Operators log in with their API token (kept in an HttpOnly, SameSite=Strict cookie); the
pages are rendered on the server with inline SVG charts and need no script at all.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from html import escape
from typing import Annotated, TypeVar
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from sealmeter.errors import UsageError
from sealmeter.store import AlertKind, AlertRecord, FleetState, Page, walk_pages
from sealmeter.web._deps import COOKIE, doors_of
from sealmeter.web._fleetview import meters_page
from sealmeter.web._tokens import Role, TokenInfo
from sealmeter.web.dashboard import _charts as charts
from sealmeter.web.dashboard._html import CSP, badge, link, meter_href, page, table, when
from sealmeter.web.dashboard._static import APP_CSS, ICON_SVG
from sealmeter.web.errors import Unauthenticated

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
T = TypeVar("T")

_MAIN_STATES = (FleetState.REPORTING, FleetState.SILENT, FleetState.BLOCKED, FleetState.TAMPERED)
_CHART_CAP = 5000
_TIMELINE_CAP = 2000


def _html(body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        body,
        status_code=status,
        headers={
            "Content-Security-Policy": CSP,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-store",
        },
    )


def _viewer(request: Request) -> TokenInfo | None:
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    try:
        return doors_of(request).tokens.verify(token)
    except Unauthenticated:
        return None


def _to_login(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse("/ui/login?next=" + quote(target, safe=""), status_code=303)


def _collect(fetch: Callable[[str | None], Page[T]], cap: int) -> Iterator[T]:
    """Walk a cursor-paged listing, at most `cap` items."""
    return itertools.islice(walk_pages(fetch), cap)


def _state_name(states: Mapping[str, FleetState], meter_id: str) -> str:
    found = states.get(meter_id)
    return "unknown" if found is None else found.value


@router.get("/", response_class=RedirectResponse)
def root() -> RedirectResponse:
    """The bare address leads to the dashboard."""
    return RedirectResponse("/ui/", status_code=307)


@router.get("/favicon.ico")
@router.get("/ui/static/icon.svg")
def icon() -> Response:
    """The dashboard's icon."""
    return Response(
        ICON_SVG, media_type="image/svg+xml", headers={"Cache-Control": "max-age=86400"}
    )


@router.get("/ui/static/app.css")
def stylesheet() -> Response:
    """The dashboard's stylesheet."""
    return Response(APP_CSS, media_type="text/css", headers={"Cache-Control": "max-age=3600"})


def _login_page(error: str = "", next_url: str = "/ui/", status: int = 200) -> HTMLResponse:
    message = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    body = (
        "<section><p>Paste your operator API token (create the first one with "
        "<code>sealmeter token create --role admin</code>).</p>"
        f"{message}"
        '<form class="login" method="post" action="/ui/login">'
        f'<input type="hidden" name="next" value="{escape(next_url)}">'
        '<label for="token">API token</label>'
        '<input id="token" name="token" type="password" autocomplete="off" required>'
        '<button type="submit">Log in</button></form></section>'
    )
    return _html(page("Log in", body), status)


def _safe_next(value: str) -> str:
    return value if value.startswith("/ui/") and "//" not in value and "\\" not in value else "/ui/"


@router.get("/ui/login")
def login_form(next: Annotated[str, Query(max_length=2000)] = "/ui/") -> HTMLResponse:
    """The login form."""
    return _login_page(next_url=_safe_next(next))


@router.post("/ui/login")
async def login(request: Request) -> Response:
    """Check the pasted token and keep it in an HttpOnly cookie."""
    raw = (await request.body())[:10_000].decode("utf-8", errors="replace")
    form = parse_qs(raw)
    token = (form.get("token") or [""])[0].strip()
    next_url = _safe_next((form.get("next") or ["/ui/"])[0])
    try:
        await run_in_threadpool(doors_of(request).tokens.verify, token)
    except Unauthenticated as exc:
        return _login_page(str(exc), next_url, status=401)
    response = RedirectResponse(next_url, status_code=303)
    response.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        max_age=12 * 3600,
        path="/",
    )
    return response


@router.post("/ui/logout")
def logout() -> Response:
    """Forget the token cookie."""
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/ui/")
def fleet_page(
    request: Request,
    state: Annotated[str | None, Query(max_length=32)] = None,
    cursor: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
) -> Response:
    """Fleet at a glance: meters by state, the meters, the alerts timeline."""
    who = _viewer(request)
    if who is None:
        return _to_login(request)
    doors = doors_of(request)
    now = doors.now()
    chosen = next((s for s in FleetState if s.value == state), None)
    summary = doors.headend.fleet(now)
    order = list(_MAIN_STATES) + [s for s in FleetState if s not in _MAIN_STATES]
    cards = "".join(
        f'<a class="card" href="/ui/?state={s.value}" id="count-{s.value}">'
        f'<span class="count">{summary.counts.get(s, 0)}</span>{badge(s.value)}</a>'
        for s in order
        if s in _MAIN_STATES or summary.counts.get(s, 0)
    )
    meters, states = meters_page(
        doors.headend, doors.fleet_states, now, fleet_state=chosen, cursor=cursor, limit=100
    )
    rows = [
        [
            link(m.meter_id, meter_href(m.meter_id)),
            escape(m.customer_ref),
            escape(m.feeder or "-"),
            badge(_state_name(states, m.meter_id)),
            when(m.last_seen),
            str(m.last_seq),
        ]
        for m in meters.items
    ]
    pager = ""
    if meters.next_cursor is not None:
        href = f"/ui/?cursor={quote(meters.next_cursor)}" + (
            f"&state={chosen.value}" if chosen else ""
        )
        pager = f'<p class="pager">{link("Next page", href)}</p>'
    title = "All meters" if chosen is None else f"Meters {chosen.value.replace('_', ' ')}"
    alerts = list(_collect(lambda c: doors.headend.list_alerts(cursor=c, limit=500), _TIMELINE_CAP))
    body = (
        f'<section><h2>Fleet at {when(now)}</h2><div class="cards">{cards}</div></section>'
        f"<section><h2>Alerts timeline</h2>{charts.alert_timeline(alerts[-200:])}"
        f"<p>{link('All alerts', '/ui/alerts')}</p></section>"
        f"<section><h2>{escape(title)}</h2>"
        + table(
            ["Meter", "Customer", "Feeder", "State", "Last seen", "Last seq"],
            rows,
            empty="No meters here yet: provision some with POST /v1/meters.",
        )
        + pager
        + "</section>"
    )
    return _html(
        page("Fleet", body, active="Fleet", who=f"{who.name} ({who.role.value})", refresh=60)
    )


@router.get("/ui/api")
def api_page(request: Request) -> Response:
    """The API's operations, from its own OpenAPI document (works offline, unlike /docs)."""
    who = _viewer(request)
    if who is None:
        return _to_login(request)
    document = request.app.openapi()
    rows = []
    for path, methods in document["paths"].items():
        for method, spec in methods.items():
            needs = "token" if spec.get("security") else "none (public)"
            rows.append(
                [
                    f"<code>{escape(method.upper())} {escape(path)}</code>",
                    escape(str(spec.get("summary", ""))),
                    escape(str(spec.get("description", "")).split("\n")[0]),
                    escape(needs),
                ]
            )
    body = (
        "<section><p>The machine-readable document is "
        f"{link('/openapi.json', '/openapi.json')}; interactive docs (they load Swagger UI "
        f"from the Internet) are at {link('/docs', '/docs')}. Operators send "
        "<code>Authorization: Bearer smt_...</code>.</p>"
        + table(["Operation", "Summary", "What it does", "Token"], rows, empty="No routes.")
        + "</section>"
    )
    return _html(page("API", body, active="API", who=f"{who.name} ({who.role.value})"))


def _ack_cell(alert: AlertRecord, who: TokenInfo, back: str) -> str:
    if alert.acknowledged_at is not None:
        return when(alert.acknowledged_at)
    if not who.role.allows(Role.OPERATOR):
        return '<span class="muted">open</span>'
    return (
        f'<form class="ack" method="post" action="/ui/alerts/{alert.alert_id}/acknowledge">'
        f'<input type="hidden" name="next" value="{escape(back)}">'
        '<button type="submit">Acknowledge</button></form>'
    )


def _alert_rows(alerts: list[AlertRecord], who: TokenInfo, back: str) -> list[list[str]]:
    return [
        [
            when(a.occurred_at),
            badge(a.severity.value),
            escape(a.kind.value.replace("_", " ")),
            link(a.meter_id, meter_href(a.meter_id)) if a.meter_id else escape(a.feeder or "-"),
            escape(a.detail),
            _ack_cell(a, who, back),
        ]
        for a in alerts
    ]


@router.post("/ui/alerts/{alert_id}/acknowledge")
async def acknowledge(request: Request, alert_id: Annotated[int, Path(ge=1, le=2**62)]) -> Response:
    """An operator acknowledges an alert from the dashboard, then returns to the page."""
    who = await run_in_threadpool(_viewer, request)
    if who is None:
        return _to_login(request)
    origin = request.headers.get("origin")
    if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
        body = '<section><p class="error">This form was sent from another site.</p></section>'
        return _html(page("Refused", body, who=who.name), status=403)
    if not who.role.allows(Role.OPERATOR):
        body = (
            f'<section><p class="error">Your token has role {escape(who.role.value)}; '
            "acknowledging alerts needs operator or admin.</p></section>"
        )
        return _html(page("Not allowed", body, who=who.name), status=403)
    raw = (await request.body())[:10_000].decode("utf-8", errors="replace")
    back = _safe_next((parse_qs(raw).get("next") or ["/ui/alerts"])[0])
    doors = doors_of(request)
    await run_in_threadpool(doors.headend.acknowledge_alert, alert_id, doors.now())
    return RedirectResponse(back, status_code=303)


@router.get("/ui/alerts")
def alerts_page(
    request: Request,
    kind: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    """Every alert on a timeline, newest first in the table."""
    who = _viewer(request)
    if who is None:
        return _to_login(request)
    doors = doors_of(request)
    chosen = next((k for k in AlertKind if k.value == kind), None)
    alerts = list(
        _collect(
            lambda c: doors.headend.list_alerts(kind=chosen, cursor=c, limit=500),
            _TIMELINE_CAP,
        )
    )
    body = (
        f"<section><h2>Timeline</h2>{charts.alert_timeline(alerts)}</section>"
        "<section><h2>Alerts, newest first</h2>"
        + table(
            ["When", "Severity", "Kind", "Meter / feeder", "Detail", "Acknowledged"],
            _alert_rows(list(reversed(alerts)), who, "/ui/alerts"),
            empty="No alerts.",
        )
        + "</section>"
    )
    return _html(
        page("Alerts", body, active="Alerts", who=f"{who.name} ({who.role.value})", refresh=60)
    )


def _months(first: datetime, last: datetime, count: int = 6) -> list[tuple[datetime, datetime]]:
    """The calendar months (UTC) from `first` to `last`, the newest `count` of them."""
    spans = []
    first = max(first, last - timedelta(days=31 * count))
    cur = datetime(first.year, first.month, 1, tzinfo=UTC)
    while cur <= last:
        nxt = datetime(cur.year + cur.month // 12, cur.month % 12 + 1, 1, tzinfo=UTC)
        spans.append((cur, nxt))
        cur = nxt
    return spans[-count:]


@router.get("/ui/meters/{meter_id}")
def meter_page(
    request: Request, meter_id: Annotated[str, Path(min_length=1, max_length=64)]
) -> Response:
    """One meter: facts, usage per tariff band over time, registrations, bills, tamper history."""
    who = _viewer(request)
    if who is None:
        return _to_login(request)
    doors = doors_of(request)
    now = doors.now()
    try:
        meter = doors.headend.get_meter(meter_id)
    except UsageError:
        body = f'<section><p class="error">No meter {escape(meter_id)!s} is provisioned.</p>'
        body += f"<p>{link('Back to the fleet', '/ui/')}</p></section>"
        return _html(page("Meter not found", body, who=who.name), status=404)
    state = _state_name(doors.fleet_states([meter], now), meter_id)
    regs = list(
        _collect(
            lambda c: doors.headend.list_registrations(meter_id=meter_id, cursor=c, limit=500),
            _CHART_CAP,
        )
    )
    buckets, bands = charts.bucket_usage(regs)
    facts = [
        ("Customer", escape(meter.customer_ref)),
        ("Fleet state", badge(state)),
        ("Lifecycle", badge(meter.state.value)),
        ("Feeder", escape(meter.feeder or "-")),
        ("Suite", escape(meter.suite)),
        ("Rate schedule", escape(meter.schedule_id or "-")),
        ("Last seen", when(meter.last_seen)),
        ("Last sequence", str(meter.last_seq)),
        ("Report interval", escape(str(meter.report_interval))),
        ("Credit frame", escape(str(meter.credit_frame))),
        ("Key version", str(meter.key_version)),
        ("Provisioned", when(meter.provisioned_at)),
    ]
    if meter.blocked_reason:
        facts.append(("Blocked because", escape(meter.blocked_reason)))
    facts_html = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts)
    reg_rows = [
        [
            str(r.seq),
            escape(r.kind),
            when(r.time),
            escape(", ".join(f"{g.register}: {g.usage}" for g in r.registers)),
            escape(format(r.charge, "f")),
            escape("-" if r.expected_charge is None else format(r.expected_charge, "f")),
            badge("reconciled" if r.reconciled else "mismatch"),
        ]
        for r in reversed(regs[-50:])
    ]
    bill_rows = []
    if regs:
        for start, end in reversed(_months(regs[0].time, regs[-1].time)):
            bill = doors.headend.bill(meter.customer_ref, start, end)
            csv_href = (
                f"/v1/bills/{quote(meter.customer_ref, safe='')}?start="
                f"{quote(start.isoformat())}&end={quote(end.isoformat())}&format=csv"
            )
            bill_rows.append(
                [
                    escape(start.strftime("%Y-%m")),
                    str(bill.registrations),
                    str(bill.total_usage),
                    escape(f"{bill.total:f} {bill.currency}"),
                    escape(f"{bill.meter_total:f} {bill.currency}"),
                    badge("reconciled" if not bill.mismatches else "mismatch"),
                    link("CSV", csv_href),
                ]
            )
    tamper = list(
        _collect(
            lambda c: doors.headend.list_alerts(
                meter_id=meter_id, kind=AlertKind.TAMPER, cursor=c, limit=500
            ),
            500,
        )
    )
    others = [
        a
        for a in _collect(
            lambda c: doors.headend.list_alerts(meter_id=meter_id, cursor=c, limit=500), 500
        )
        if a.kind is not AlertKind.TAMPER
    ]
    alert_headers = ["When", "Severity", "Kind", "Meter / feeder", "Detail", "Acknowledged"]
    back = meter_href(meter_id)
    body = (
        f'<section><dl class="facts">{facts_html}</dl></section>'
        "<section><h2>Consumption per tariff band</h2>"
        f"{charts.band_chart(buckets, bands)}</section>"
        "<section><h2>Registrations (newest 50)</h2>"
        + table(
            ["Seq", "Kind", "Meter time", "Usage per band", "Charge", "Recomputed", "Check"],
            reg_rows,
            empty="No registrations stored for this meter yet.",
        )
        + "</section><section><h2>Bills of this customer, per month</h2>"
        + table(
            ["Month", "Registrations", "Usage", "Bill", "Meter's charge", "Check", "Export"],
            bill_rows,
            empty="No bills yet: no registrations.",
        )
        + "</section><section><h2>Tamper history</h2>"
        + table(alert_headers, _alert_rows(tamper, who, back), empty="No tamper detected.")
        + "</section><section><h2>Other alerts</h2>"
        + table(alert_headers, _alert_rows(others, who, back), empty="No other alerts.")
        + "</section>"
    )
    return _html(page(f"Meter {meter_id}", body, who=f"{who.name} ({who.role.value})"))
