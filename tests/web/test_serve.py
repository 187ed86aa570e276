"""`sealmeter serve` and `sealmeter token ...` as a user runs them."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from typer.testing import CliRunner

from sealmeter.cli import app

runner = CliRunner()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_token_commands_create_list_and_revoke(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'h.db'}"
    made = runner.invoke(
        app, ["token", "create", "--name", "ops", "--role", "operator", "--db", db, "--json"]
    )
    assert made.exit_code == 0, made.output
    issued = json.loads(made.output)
    assert issued["role"] == "operator"
    assert issued["token"].startswith(f"smt_{issued['token_id']}_")
    listed = json.loads(runner.invoke(app, ["token", "list", "--db", db, "--json"]).output)
    assert [(t["token_id"], t["name"]) for t in listed] == [(issued["token_id"], "ops")]
    assert issued["token"] not in json.dumps(listed)
    gone = runner.invoke(app, ["token", "revoke", issued["token_id"], "--db", db])
    assert gone.exit_code == 0
    assert runner.invoke(app, ["token", "list", "--db", db, "--json"]).output.strip() == "[]"
    revoked = json.loads(
        runner.invoke(app, ["token", "list", "--db", db, "--all", "--json"]).output
    )
    assert revoked[0]["revoked_at"] is not None


def test_token_commands_explain_bad_input(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'h.db'}"
    bad_role = runner.invoke(app, ["token", "create", "--name", "x", "--role", "root", "--db", db])
    assert bad_role.exit_code == 2
    assert "unknown role" in bad_role.output
    missing = runner.invoke(app, ["token", "revoke", "ffffffffffff", "--db", db])
    assert missing.exit_code == 2
    assert "no API token" in missing.output
    bad_db = runner.invoke(app, ["token", "list", "--db", "mysql://nowhere/x"])
    assert bad_db.exit_code == 2
    assert "unsupported database" in bad_db.output


def test_serve_starts_on_defaults_and_bootstraps_a_first_admin(tmp_path: Path) -> None:
    port = _free_port()
    env = dict(os.environ, SEALMETER_KEY_PASSPHRASE="correct horse battery staple")
    cmd = [
        sys.executable,
        "-m",
        "sealmeter",
        "serve",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    proc = subprocess.Popen(
        cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"{base}/v1/health", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.communicate()[1]
                assert time.monotonic() < deadline, "serve did not come up within 60 s"
                time.sleep(0.2)
        assert health.status_code == 200
        assert health.json()["store"] == "sqlite"
        assert (tmp_path / "sealmeter.db").exists(), "the default database is in the cwd"
        assert (tmp_path / "sealmeter-box-keys.json").exists(), "first start creates the keys"
    finally:
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=30)
    token = re.search(r"smt_[0-9a-f]{12}_[A-Za-z0-9_-]+", err)
    assert token is not None, err
    assert "created new box keys" in err
    assert proc.returncode == 0, err

    # The second start reuses keys and tokens, and the bootstrap token works.
    proc = subprocess.Popen(
        cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                fleet = httpx.get(
                    f"{base}/v1/fleet",
                    headers={"Authorization": f"Bearer {token.group(0)}"},
                    timeout=2,
                )
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.communicate()[1]
                assert time.monotonic() < deadline
                time.sleep(0.2)
        assert fleet.status_code == 200
        assert fleet.json()["total"] == 0
        assert httpx.get(f"{base}/v1/fleet", timeout=2).status_code == 401
    finally:
        proc.send_signal(signal.SIGINT)
        _out, err2 = proc.communicate(timeout=30)
    assert "smt_" not in err2, "no second bootstrap token while one exists"
    assert "created new box keys" not in err2


def test_serve_refuses_without_a_passphrase(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "SEALMETER_KEY_PASSPHRASE"}
    done = subprocess.run(
        [sys.executable, "-m", "sealmeter", "serve", "--port", str(_free_port())],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "SEALMETER_KEY_PASSPHRASE" in done.stderr
    assert not (tmp_path / "sealmeter-box-keys.json").exists()
