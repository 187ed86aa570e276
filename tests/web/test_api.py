"""The REST API over a real head-end: listings, paging, filters, bills, lifecycle, errors."""

from __future__ import annotations

import csv
import io
import random
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sealmeter.headend.testing import MeterSide
from sealmeter.protocol import Suite
from sealmeter.store import StoreUnavailable
from sealmeter.web import Role, content_disposition
from tests.web.conftest import PRICES, SCHEDULE, T0, Client, WebEnv, charge
from tests.web.helpers import assert_error, nul_requests, walk

OCTETS = {"Content-Type": "application/octet-stream"}


def test_health_needs_no_token_and_counts_what_is_stored(shared_fleet: WebEnv) -> None:
    body = shared_fleet.client.get("/v1/health").json()
    assert body["ok"] is True
    assert body["store"] == "sqlite"
    assert body["meters"] == 5
    assert body["registrations"] == 4 * 10 + 7


def test_fleet_counts_meters_by_state(shared_fleet: WebEnv) -> None:
    counts = shared_fleet.client.get("/v1/fleet", headers=shared_fleet.auth()).json()["counts"]
    assert counts["reporting"] == 2
    assert counts["silent"] == 1
    assert counts["blocked"] == 1
    assert counts["tampered"] == 1
    assert sum(counts.values()) == 5


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", {"m-ok", "m-quiet", "m-blocked", "m-tamper", "m-wrong"}),
        ("state=silent", {"m-quiet"}),
        ("state=reporting", {"m-ok", "m-wrong"}),
        ("state=tampered", {"m-tamper"}),
        ("feeder=f2", {"m-blocked", "m-tamper"}),
        ("customer_ref=cust-a", {"m-ok", "m-wrong"}),
        ("customer_ref=cust-a&state=reporting&feeder=f1", {"m-ok", "m-wrong"}),
        ("state=never_seen", set()),
    ],
)
@pytest.mark.parametrize("limit", [1, 2, 50])
def test_meters_filter_and_page(
    shared_fleet: WebEnv, query: str, expected: set[str], limit: int
) -> None:
    items = walk(shared_fleet.client, f"/v1/meters?{query}", shared_fleet.auth(), limit)
    ids = [m["meter_id"] for m in items]
    assert ids == sorted(expected), "each meter once, in id order"
    if "state=" in query:
        wanted = query.split("state=")[1].split("&")[0]
        assert {m["fleet_state"] for m in items} <= {wanted}


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(limit=st.integers(min_value=1, max_value=60))
def test_paging_registrations_returns_each_exactly_once(shared_fleet: WebEnv, limit: int) -> None:
    items = walk(shared_fleet.client, "/v1/registrations", shared_fleet.auth(), limit)
    keys = [(r["meter_id"], r["seq"]) for r in items]
    assert len(keys) == len(set(keys)) == 47
    per_meter = {m: sorted(s for mm, s in keys if mm == m) for m, _ in keys}
    assert per_meter["m-ok"] == list(range(1, 11))
    assert per_meter["m-quiet"] == list(range(1, 8))


def test_registrations_filter_by_meter_and_time(shared_fleet: WebEnv) -> None:
    since, until = T0 + timedelta(days=2), T0 + timedelta(days=5)
    window = f"since={quote(since.isoformat())}&until={quote(until.isoformat())}"
    url = f"/v1/registrations?meter=m-ok&{window}"
    items = walk(shared_fleet.client, url, shared_fleet.auth(), 2)
    assert [r["seq"] for r in items] == [3, 4, 5]
    for reg in items:
        assert reg["meter_id"] == "m-ok"
        assert since.isoformat().replace("+00:00", "Z") <= reg["time"]
    first = items[0]
    assert first["usage"] == 1000 + 20 + 400 + 2
    assert first["reconciled"] is True
    by_obis = {g["obis"]: g for g in first["registers"]}
    assert Decimal(by_obis["1.8.1"]["charge"]) == charge("1.8.1", 1020)
    assert Decimal(by_obis["1.8.1"]["expected_charge"]) == charge("1.8.1", 1020)


def test_a_wrong_charge_shows_up_unreconciled_and_raises_an_alert(shared_fleet: WebEnv) -> None:
    items = walk(shared_fleet.client, "/v1/registrations?meter=m-wrong", shared_fleet.auth(), 50)
    bad = [r for r in items if not r["reconciled"]]
    assert [r["seq"] for r in bad] == [5]
    assert Decimal(bad[0]["charge"]) - Decimal(bad[0]["expected_charge"]) == Decimal("1.00")
    alerts = shared_fleet.client.get(
        "/v1/alerts?kind=charge_mismatch", headers=shared_fleet.auth()
    ).json()
    assert [a["meter_id"] for a in alerts["items"]] == ["m-wrong"]


@pytest.mark.parametrize(
    "query",
    [
        "since=2026-03-01T00:00:00",  # no zone: ambiguous
        "since=yesterday",
        "limit=0",
        "limit=501",
        "meter=",
        "until=2026-13-01T00:00:00Z",
    ],
)
@pytest.mark.parametrize("path", ["/v1/registrations", "/v1/alerts", "/v1/enable-codes"])
def test_bad_query_parameters_are_422_with_the_field_named(
    shared_fleet: WebEnv, path: str, query: str
) -> None:
    body = assert_error(
        shared_fleet.client.get(f"{path}?{query}", headers=shared_fleet.auth()),
        422,
        "invalid_request",
    )
    assert body["fields"]
    assert body["fields"][0]["location"].startswith("query.")


def test_an_empty_time_window_and_a_forged_cursor_are_400(shared_fleet: WebEnv) -> None:
    url = "/v1/registrations?since=2026-03-05T00:00:00Z&until=2026-03-04T00:00:00Z"
    assert (
        "since"
        in assert_error(
            shared_fleet.client.get(url, headers=shared_fleet.auth()), 400, "bad_request"
        )["detail"]
    )
    forged = shared_fleet.client.get(
        "/v1/registrations?cursor=not-a-cursor", headers=shared_fleet.auth()
    )
    assert_error(forged, 400, "bad_request")
    huge = shared_fleet.client.get(
        f"/v1/registrations?cursor={'9' * 23}", headers=shared_fleet.auth()
    )
    assert_error(huge, 400, "bad_request")
    # the calendar a bill walks ends in 9999: such a period is the caller's error, not a 500
    late = "/v1/bills?start=9999-12-01T00:00:00Z&end=9999-12-31T00:00:00Z"
    assert_error(shared_fleet.client.get(late, headers=shared_fleet.auth()), 400, "bad_request")


def test_unknown_things_are_404_and_wrong_methods_405(shared_fleet: WebEnv) -> None:
    assert_error(
        shared_fleet.client.get("/v1/meters/nope", headers=shared_fleet.auth()), 404, "not_found"
    )
    assert_error(
        shared_fleet.client.get("/v1/nothing-here", headers=shared_fleet.auth()), 404, "not_found"
    )
    assert_error(
        shared_fleet.client.delete("/v1/meters", headers=shared_fleet.auth()),
        405,
        "method_not_allowed",
    )
    operator = shared_fleet.auth(Role.OPERATOR)
    assert_error(
        shared_fleet.client.post("/v1/alerts/99999/acknowledge", headers=operator), 404, "not_found"
    )
    assert_error(
        shared_fleet.client.get("/v1/schedules/home/9/deliveries", headers=shared_fleet.auth()),
        404,
        "not_found",
    )


def test_alerts_filter_and_acknowledge(fleet: WebEnv) -> None:
    reader, operator = fleet.auth(), fleet.auth(Role.OPERATOR)
    tamper = fleet.client.get("/v1/alerts?kind=tamper", headers=reader).json()["items"]
    assert [a["meter_id"] for a in tamper] == ["m-tamper"]
    assert tamper[0]["acknowledged_at"] is None
    open_before = walk(fleet.client, "/v1/alerts?open_only=true", reader, 2)
    acked = fleet.client.post(f"/v1/alerts/{tamper[0]['alert_id']}/acknowledge", headers=operator)
    assert acked.status_code == 200
    assert acked.json()["acknowledged_at"] is not None
    open_after = walk(fleet.client, "/v1/alerts?open_only=true", reader, 2)
    assert len(open_after) == len(open_before) - 1
    assert tamper[0]["alert_id"] not in [a["alert_id"] for a in open_after]
    meter = fleet.client.get("/v1/meters/m-tamper", headers=reader).json()
    assert meter["fleet_state"] == "reporting", "an acknowledged tamper no longer marks the meter"
    only_quiet = fleet.client.get("/v1/alerts?meter=m-quiet", headers=reader).json()["items"]
    assert {a["kind"] for a in only_quiet} == {"silent"}


def test_block_unblock_and_decommission_through_the_api(fleet: WebEnv) -> None:
    operator, admin = fleet.auth(Role.OPERATOR), fleet.auth(Role.ADMIN)
    blocked = fleet.client.post(
        "/v1/meters/m-ok/block", json={"reason": "fraud check"}, headers=operator
    )
    assert blocked.json()["state"] == "blocked"
    assert blocked.json()["fleet_state"] == "blocked"
    assert blocked.json()["blocked_reason"] == "fraud check"
    again = fleet.client.post("/v1/meters/m-ok/block", json={"reason": "twice"}, headers=operator)
    assert "blocked" in assert_error(again, 409, "conflict")["detail"]
    assert_error(
        fleet.client.post("/v1/meters/m-ok/block", json={"reason": ""}, headers=operator),
        422,
        "invalid_request",
    )
    unblocked = fleet.client.post("/v1/meters/m-ok/unblock", headers=operator)
    assert unblocked.json()["state"] == "active"
    gone = fleet.client.post("/v1/meters/m-ok/decommission", headers=admin)
    assert gone.json()["fleet_state"] == "decommissioned"
    assert_error(fleet.client.post("/v1/meters/m-ok/unblock", headers=operator), 409, "conflict")


def test_bill_equals_the_hand_computed_sum(shared_fleet: WebEnv) -> None:
    start, end = T0 - timedelta(days=1), T0 + timedelta(days=30)
    url = f"/v1/bills/cust-a?start={quote(start.isoformat())}&end={quote(end.isoformat())}"
    bill = shared_fleet.client.get(url, headers=shared_fleet.auth()).json()
    # cust-a has m-ok and m-wrong, each 10 days of 1.8.1 = 1000+10d Wh and 1.8.2 = 400+d Wh;
    # a line is its exact charge rounded once to cents (half up); no standing charge.
    usage_181 = 2 * sum(1000 + 10 * d for d in range(10))  # 20 900 Wh
    usage_182 = 2 * sum(400 + d for d in range(10))  # 8 090 Wh
    cents = Decimal("0.01")
    line_181 = (Decimal("0.30") * usage_181 / 1000).quantize(cents, ROUND_HALF_UP)  # 6.27
    line_182 = (Decimal("0.20") * usage_182 / 1000).quantize(cents, ROUND_HALF_UP)  # 1.618
    exact_meter = charge("1.8.1", usage_181) + charge("1.8.2", usage_182) + Decimal("1.00")
    assert bill["meter_ids"] == ["m-ok", "m-wrong"]
    lines = {line["obis"]: line for line in bill["lines"]}
    assert set(PRICES) == set(lines)
    assert lines["1.8.1"]["usage"] == usage_181
    assert lines["1.8.2"]["usage"] == usage_182
    assert Decimal(lines["1.8.1"]["charge"]) == line_181 == Decimal("6.27")
    assert Decimal(lines["1.8.2"]["charge"]) == line_182 == Decimal("1.62")
    assert bill["total_usage"] == usage_181 + usage_182
    assert Decimal(bill["standing_charge"]) == 0
    assert Decimal(bill["total"]) == line_181 + line_182
    assert Decimal(bill["meter_total"]) == exact_meter.quantize(cents, ROUND_HALF_UP)
    assert bill["registrations"] == 20
    assert bill["mismatches"] == 1

    exported = shared_fleet.client.get(url + "&format=csv", headers=shared_fleet.auth())
    assert exported.headers["content-type"].startswith("text/csv")
    assert "attachment" in exported.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [r["obis"] for r in rows] == ["1.8.1", "1.8.2", "STANDING", "TOTAL"]
    assert Decimal(rows[0]["charge"]) == line_181
    assert Decimal(rows[-1]["charge"]) == line_181 + line_182
    assert int(rows[-1]["usage"]) == usage_181 + usage_182


def test_all_bills_of_a_period_agree_with_each_customers_bill(shared_fleet: WebEnv) -> None:
    window = "start=2026-03-01T00:00:00Z&end=2026-04-01T00:00:00Z"
    reader = shared_fleet.auth()
    every = shared_fleet.client.get(f"/v1/bills?{window}", headers=reader).json()
    assert [b["customer_ref"] for b in every] == ["cust-a", "cust-b", "cust-c", "cust-d"]
    for bill in every:
        one = shared_fleet.client.get(f"/v1/bills/{bill['customer_ref']}?{window}", headers=reader)
        assert one.json() == bill
    assert sum(b["registrations"] for b in every) == 47
    exported = shared_fleet.client.get(f"/v1/bills?{window}&format=csv", headers=reader).text
    rows = list(csv.DictReader(io.StringIO(exported)))
    totals = {r["customer_ref"]: Decimal(r["charge"]) for r in rows if r["obis"] == "TOTAL"}
    assert totals == {b["customer_ref"]: Decimal(b["total"]) for b in every}
    backwards = "/v1/bills?start=2026-04-01T00:00:00Z&end=2026-03-01T00:00:00Z"
    assert_error(shared_fleet.client.get(backwards, headers=reader), 400, "bad_request")


def test_bill_period_must_be_ordered_and_zoned(shared_fleet: WebEnv) -> None:
    reader = shared_fleet.auth()
    backwards = "/v1/bills/cust-a?start=2026-04-01T00:00:00Z&end=2026-03-01T00:00:00Z"
    assert_error(shared_fleet.client.get(backwards, headers=reader), 400, "bad_request")
    naive = "/v1/bills/cust-a?start=2026-03-01T00:00:00&end=2026-04-01T00:00:00Z"
    assert_error(shared_fleet.client.get(naive, headers=reader), 422, "invalid_request")
    for path in ("/v1/bills/cust-a", "/v1/bills"):
        forever = f"{path}?start=2026-01-01T00:00:00Z&end=9070-01-01T00:00:00Z"
        detail = assert_error(shared_fleet.client.get(forever, headers=reader), 400, "bad_request")
        assert "at most 3660 days" in detail["detail"]
    unknown = "/v1/bills/nobody?start=2026-03-01T00:00:00Z&end=2026-04-01T00:00:00Z"
    empty = shared_fleet.client.get(unknown, headers=reader).json()
    assert empty["registrations"] == 0
    assert Decimal(empty["total"]) == 0


def test_schedules_publish_list_and_delivery(fleet: WebEnv) -> None:
    operator, reader = fleet.auth(Role.OPERATOR), fleet.auth()
    listed = fleet.client.get("/v1/schedules", headers=reader).json()
    assert [(s["schedule_id"], s["version"]) for s in listed] == [("home", 1)]
    v2 = SCHEDULE.replace("version = 1", "version = 2").replace("2026-01-01", "2026-04-01")
    made = fleet.client.post("/v1/schedules", json={"document": v2}, headers=operator)
    assert made.status_code == 201, made.text
    assert made.json()["version"] == 2
    stale = fleet.client.post("/v1/schedules", json={"document": SCHEDULE}, headers=operator)
    assert "not newer" in assert_error(stale, 400, "bad_request")["detail"]
    garbled = fleet.client.post("/v1/schedules", json={"document": "{not json"}, headers=operator)
    assert "JSON" in assert_error(garbled, 400, "bad_request")["detail"]
    negative = SCHEDULE.replace("version = 1", "version = 3").replace('"0.20"', '"-1"')
    refused = fleet.client.post("/v1/schedules", json={"document": negative}, headers=operator)
    assert "invalid" in assert_error(refused, 400, "bad_request")["detail"]
    deliveries = fleet.client.get("/v1/schedules/home/2/deliveries", headers=reader).json()
    assert {d["meter_id"] for d in deliveries} == set(fleet.meters)
    assert all(d["version"] == 2 and d["confirmed_at"] is None for d in deliveries)


def test_provision_over_the_api_then_the_meter_reports_through_the_uplink(env: WebEnv) -> None:
    side = MeterSide("m-api", env.box_keys.public(Suite.EC_MODERN), random.Random(9))
    body = {
        "meter_id": "m-api",
        "customer_ref": "cust-z",
        "suite": side.suite.value,
        "public_keys_hex": side.keys.public().to_bytes().hex(),
        "chain_key_hex": side.chain_key.hex(),
        "feeder": "f9",
        "schedule_id": "home",
        "credit_frame_s": 3 * 86_400,
    }
    made = env.client.post("/v1/meters", json=body, headers=env.auth(Role.OPERATOR))
    assert made.status_code == 201, made.text
    assert made.json()["fleet_state"] == "never_seen"
    assert made.json()["credit_frame_s"] == 3 * 86_400
    again = env.client.post("/v1/meters", json=body, headers=env.auth(Role.OPERATOR))
    assert_error(again, 409, "conflict")
    env.report(side, {"1.8.1": 123})
    env.deliver(side)
    assert side.queue == [], "the enable code acknowledged the registration"
    regs = env.client.get("/v1/registrations?meter=m-api", headers=env.auth()).json()["items"]
    assert [(r["seq"], r["usage"]) for r in regs] == [(1, 123)]
    codes = env.client.get("/v1/enable-codes?meter=m-api", headers=env.auth()).json()["items"]
    assert [c["acked_seq"] for c in codes] == [1]
    assert codes[0]["credit_frame_s"] == 3 * 86_400
    meter = env.client.get("/v1/meters/m-api", headers=env.auth()).json()
    assert meter["fleet_state"] == "reporting"
    assert meter["last_seq"] == 1


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("meter_id", ""),
        ("meter_id", "has space"),
        ("public_keys_hex", "zz"),
        ("chain_key_hex", "abc"),
        ("credit_frame_s", 0),
        ("suite", ""),
        ("unexpected", 1),
    ],
)
def test_provisioning_garbage_is_422(env: WebEnv, field: str, value: object) -> None:
    body: dict[str, object] = {
        "meter_id": "m-x",
        "customer_ref": "c",
        "suite": "ec-modern",
        "public_keys_hex": "00",
        "chain_key_hex": "00",
        field: value,
    }
    response = env.client.post("/v1/meters", json=body, headers=env.auth(Role.OPERATOR))
    assert_error(response, 422, "invalid_request")


def test_provisioning_keys_the_head_end_cannot_use_is_400(env: WebEnv) -> None:
    body = {
        "meter_id": "m-x",
        "customer_ref": "c",
        "suite": "ec-modern",
        "public_keys_hex": "00" * 8,
        "chain_key_hex": "11" * 32,
    }
    response = env.client.post("/v1/meters", json=body, headers=env.auth(Role.OPERATOR))
    assert_error(response, 400, "bad_request")
    body["suite"] = "rot13"
    assert_error(
        env.client.post("/v1/meters", json=body, headers=env.auth(Role.OPERATOR)),
        400,
        "bad_request",
    )


def test_forged_uplinks_get_an_opaque_answer_and_a_precise_log_entry(fleet: WebEnv) -> None:
    side = fleet.meters["m-ok"]
    fleet.report(side, {"1.8.1": 5})
    genuine = bytearray(side.uplink(fleet.clock.now()))
    genuine[-3] ^= 0x40
    answers = set()
    for garbage in (bytes(genuine), b"\x01" * 40, b"hello"):
        reply = fleet.client.post("/v1/uplink", content=garbage, headers=OCTETS)
        assert reply.status_code == 200
        answers.add(reply.content)
    assert len(answers) == 1, "every refusal gets the same opaque answer"
    log = fleet.client.get("/v1/rejections", headers=fleet.auth()).json()["items"]
    assert len(log) == 3
    assert all(r["reason"] and r["detail"] for r in log)
    assert log[0]["meter_id"] == "m-ok"
    health = fleet.client.get("/v1/health").json()
    assert health["rejections"] == 3
    assert health["registrations"] == 47, "nothing was stored from forged data"


def test_the_uplink_door_refuses_non_binary_and_empty_bodies(env: WebEnv) -> None:
    assert env.client.post("/v1/uplink", content=b"", headers=OCTETS).status_code == 400
    wrong_type = env.client.post("/v1/uplink", content=b"x", headers={"Content-Type": "text/plain"})
    assert wrong_type.status_code == 415
    assert wrong_type.json()["error"] == "unsupported_media_type"


def test_metrics_count_requests_and_stored_data(fleet: WebEnv) -> None:
    fleet.client.get("/v1/meters/nope", headers=fleet.auth())
    text = fleet.client.get("/v1/metrics", headers=fleet.auth()).text
    assert "sealmeter_registrations 47" in text
    assert "sealmeter_meters 5" in text
    assert 'sealmeter_fleet_meters{state="silent"} 1' in text
    assert 'route="/v1/meters/{meter_id}",status="404"} 1' in text
    assert 'route="/v1/uplink",status="200"}' in text
    assert 'sealmeter_headend{counter="registrations"} 47' in text


def test_a_store_outage_is_503_with_retry_after(
    env: WebEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(**_: object) -> None:
        raise StoreUnavailable("PostgreSQL at 127.0.0.1 refused the connection")

    monkeypatch.setattr(env.headend, "list_registrations", down)
    response = env.client.get("/v1/registrations", headers=env.auth())
    assert_error(response, 503, "unavailable")
    assert response.headers["retry-after"] == "30"


def test_an_unexpected_failure_is_an_opaque_500(
    env: WebEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(**_: object) -> None:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(env.headend, "list_alerts", broken)
    client = Client(env.app, raise_app_exceptions=False)
    response = client.get("/v1/alerts", headers=env.auth())
    body = assert_error(response, 500, "internal")
    assert "secret" not in body["detail"]


@settings(max_examples=200, deadline=None)
@given(name=st.text(min_size=1, max_size=60))
def test_any_customer_name_gives_a_valid_download_header(name: str) -> None:
    header = content_disposition(f"bill-{name}.csv")
    header.encode("latin-1")  # what an HTTP header must be
    assert header.startswith('attachment; filename="bill-')
    assert "\n" not in header
    assert "\r" not in header
    assert header.count('"') == 2


def test_a_nul_in_any_parameter_is_refused_the_same_on_sqlite(fleet: WebEnv) -> None:
    # SQLite could hold it, PostgreSQL cannot: the API refuses it before either store sees it
    admin = fleet.auth(Role.ADMIN)
    cases = nul_requests(fleet.client.get("/openapi.json").json(), "m-ok")
    for method, url, _location in cases:
        assert_error(fleet.client.request(method, url, headers=admin), 422, "invalid_request")
    assert_error(fleet.client.get("/v1/meters?cursor=%00", headers=admin), 422, "invalid_request")
    assert fleet.client.get("/v1/meters", headers=admin).status_code == 200


def test_a_bill_export_never_hands_a_spreadsheet_a_formula(env: WebEnv) -> None:
    # a customer reference is operator text: as the first cell of a CSV row it must not run
    # in the spreadsheet the bill is opened in ("CSV injection")
    side = env.meter("m-csv", '=HYPERLINK("http://evil","pay")', seed=31)
    env.report(side, {"1.8.1": 200})
    env.deliver(side)
    window = "start=2026-03-01T00:00:00Z&end=2026-04-01T00:00:00Z"
    text = env.client.get(f"/v1/bills?{window}&format=csv", headers=env.auth()).text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows
    assert {r["customer_ref"] for r in rows} == {'\'=HYPERLINK("http://evil","pay")'}
