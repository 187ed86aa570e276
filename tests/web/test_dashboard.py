"""The dashboard in-process: login, cookies, redirects, headers, escaping (no browser)."""

from __future__ import annotations

import random

import pytest

from sealmeter.headend.testing import MeterSide
from sealmeter.protocol import Suite
from sealmeter.store import AlertKind
from sealmeter.web import Role
from tests.web.conftest import WebEnv

PAGES = ["/ui/", "/ui/alerts", "/ui/meters/m-ok", "/ui/?state=silent", "/ui/api"]


@pytest.mark.parametrize("path", PAGES)
def test_anonymous_visitors_are_sent_to_login_with_their_target(env: WebEnv, path: str) -> None:
    response = env.client.get(path)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/ui/login?next=%2Fui%2F")


def test_login_sets_a_strict_httponly_cookie_and_returns_to_the_target(env: WebEnv) -> None:
    form = {"token": env.token[Role.READ_ONLY], "next": "/ui/alerts"}
    response = env.client.post("/ui/login", data=form)
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/alerts"
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    page = env.client.get("/ui/alerts")
    assert page.status_code == 200
    assert '<meta http-equiv="refresh" content="60">' in page.text, "a wall display stays fresh"
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    assert page.headers["x-content-type-options"] == "nosniff"
    api = env.client.get("/v1/fleet")
    assert api.status_code == 200, "the API accepts the dashboard's cookie too"


@pytest.mark.parametrize(
    "target", ["//evil.example/", "https://evil.example/", "/ui/..//evil", "/v1/tokens", "\\\\x"]
)
def test_login_never_redirects_off_the_dashboard(env: WebEnv, target: str) -> None:
    form = {"token": env.token[Role.READ_ONLY], "next": target}
    response = env.client.post("/ui/login", data=form)
    assert response.headers["location"] == "/ui/"


def test_a_wrong_or_revoked_token_cannot_log_in(env: WebEnv) -> None:
    response = env.client.post("/ui/login", data={"token": "smt_0123456789ab_x"})
    assert response.status_code == 401
    assert "unknown API token" in response.text
    assert "set-cookie" not in response.headers
    info = env.tokens.verify(env.token[Role.OPERATOR])
    env.client.post("/ui/login", data={"token": env.token[Role.OPERATOR]})
    assert env.client.get("/ui/").status_code == 200
    env.tokens.revoke(info.token_id, env.clock.now())
    assert env.client.get("/ui/").status_code == 303, "a revoked token's cookie stops working"


def test_garbage_login_bodies_get_the_form_again(env: WebEnv) -> None:
    for body in (b"", b"\xff\xfe\x00", b"token=" + b"a" * 20_000, b"%%%&&&==="):
        response = env.client.post(
            "/ui/login",
            content=body,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert response.status_code == 401
        assert "<form" in response.text


def test_meter_supplied_text_is_escaped_on_every_page(env: WebEnv) -> None:
    evil = "<img src=x onerror=alert(1)>"
    side = MeterSide("m-evil", env.box_keys.public(Suite.EC_MODERN), random.Random(3))
    env.headend.provision(side.provisioning(evil, feeder=evil), env.clock.now())
    env.report(side, {"1.8.1": 10})
    env.deliver(side)
    env.headend.block("m-evil", evil, env.clock.now())
    env.client.post("/ui/login", data={"token": env.token[Role.READ_ONLY]})
    for path in ("/ui/", "/ui/meters/m-evil", "/ui/alerts"):
        page = env.client.get(path)
        assert page.status_code == 200
        assert evil not in page.text
    assert "&lt;img src=x onerror=alert(1)&gt;" in env.client.get("/ui/meters/m-evil").text


def test_static_files_and_logout(env: WebEnv) -> None:
    assert env.client.get("/ui/static/app.css").headers["content-type"].startswith("text/css")
    assert env.client.get("/favicon.ico").headers["content-type"] == "image/svg+xml"
    assert env.client.get("/").headers["location"] == "/ui/"
    env.client.post("/ui/login", data={"token": env.token[Role.READ_ONLY]})
    out = env.client.post("/ui/logout")
    assert out.headers["location"] == "/ui/login"
    assert env.client.get("/ui/").status_code == 303


def _tamper_alert(env: WebEnv) -> int:
    (alert,) = env.headend.list_alerts(kind=AlertKind.TAMPER).items
    return alert.alert_id


def test_operators_acknowledge_alerts_from_the_dashboard(fleet: WebEnv) -> None:
    alert_id = _tamper_alert(fleet)
    fleet.client.post("/ui/login", data={"token": fleet.token[Role.OPERATOR]})
    page = fleet.client.get("/ui/meters/m-tamper").text
    assert f'action="/ui/alerts/{alert_id}/acknowledge"' in page
    done = fleet.client.post(
        f"/ui/alerts/{alert_id}/acknowledge", data={"next": "/ui/meters/m-tamper"}
    )
    assert done.status_code == 303
    assert done.headers["location"] == "/ui/meters/m-tamper"
    assert fleet.headend.list_alerts(kind=AlertKind.TAMPER).items[0].acknowledged_at is not None
    after = fleet.client.get("/ui/meters/m-tamper").text
    assert f'action="/ui/alerts/{alert_id}/acknowledge"' not in after
    assert "badge state-tampered" not in after, "the meter is no longer marked tampered"
    missing = fleet.client.post("/ui/alerts/999999/acknowledge", data={})
    assert missing.status_code == 404


def test_read_only_viewers_and_other_sites_cannot_acknowledge(fleet: WebEnv) -> None:
    alert_id = _tamper_alert(fleet)
    fleet.client.post("/ui/login", data={"token": fleet.token[Role.READ_ONLY]})
    assert "Acknowledge</button>" not in fleet.client.get("/ui/alerts").text
    refused = fleet.client.post(f"/ui/alerts/{alert_id}/acknowledge", data={})
    assert refused.status_code == 403
    assert "needs operator" in refused.text
    fleet.client.post("/ui/login", data={"token": fleet.token[Role.ADMIN]})
    forged = fleet.client.post(
        f"/ui/alerts/{alert_id}/acknowledge", data={}, headers={"Origin": "https://evil.example"}
    )
    assert forged.status_code == 403
    assert fleet.headend.list_alerts(kind=AlertKind.TAMPER).items[0].acknowledged_at is None
