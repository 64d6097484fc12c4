"""Token lifecycle: every token expires (default ``auth.token_expiry_days``, the bootstrap admin's
too), admins list and revoke tokens over the API and the CLI, and a revoked or expired token is
refused with 401. Listings never carry the secret or its hash."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from support.api import err
from support.central import make_container

from central.adapters.db.models_access import ApiTokenRow
from central.adapters.db.models_governance import AuditRow
from central.bootstrap import Container
from central.config import load_settings
from central.errors import InvalidInput
from central.service_layer.access import TOKEN_EXPIRY_DEFAULT, ensure_bootstrap_admin, issue_token
from shared.config import ConfigError


@pytest.fixture
def central(central_db_url: str) -> Iterator[Container]:
    c = make_container(central_db_url)
    yield c
    c.dispose()


def issue(c: Container, user: str, role: str, **kw: Any) -> tuple[str, dict[str, str]]:
    with c.write_sessions() as s, s.begin():
        issued = issue_token(s, user, role, **kw)
    return issued.token_id, {"Authorization": f"Bearer {issued.token}"}


def test_every_token_expires_by_default_the_bootstrap_admin_too(central: Container) -> None:
    before = datetime.now(UTC)
    with central.write_sessions() as s, s.begin():
        admin = ensure_bootstrap_admin(s, expires_in=timedelta(days=7))
        plain = issue_token(s, "pat", "planner")
    assert admin is not None and admin.expires is not None and plain.expires is not None
    assert before + timedelta(days=7) <= admin.expires <= datetime.now(UTC) + timedelta(days=7)
    assert before + TOKEN_EXPIRY_DEFAULT <= plain.expires <= datetime.now(UTC) + TOKEN_EXPIRY_DEFAULT
    with central.read_sessions() as s:
        assert all(r.expires is not None for r in s.scalars(select(ApiTokenRow)))
    with central.write_sessions() as s, s.begin():
        for bad in (timedelta(0), timedelta(days=-1), timedelta(days=40_000)):
            with pytest.raises(InvalidInput, match="expiry"):
                issue_token(s, "pat", "planner", expires_in=bad)


def test_admins_list_and_revoke_tokens_and_a_revoked_token_gets_401(central: Container, client: TestClient) -> None:
    admin_id, admin = issue(central, "root", "admin")
    pat_id, pat = issue(central, "pat", "planner")
    old_id, old = issue(central, "old", "auditor", expires_in=timedelta(days=1),
                        now=datetime.now(UTC) - timedelta(days=2))
    listed = client.get("/api/v1/tokens", headers=admin)
    assert listed.status_code == 200, listed.text
    tokens = listed.json()["tokens"]
    assert {t["id"] for t in tokens} == {admin_id, pat_id}  # active only by default
    assert set(tokens[0]) == {"id", "user", "role", "created", "expires", "revoked_at", "revoked_by", "status"}
    everything = client.get("/api/v1/tokens", params={"include_inactive": "true"}, headers=admin)
    assert {t["id"]: t["status"] for t in everything.json()["tokens"]} == {
        admin_id: "active", pat_id: "active", old_id: "expired"}
    with central.read_sessions() as s:
        hashes = [r.token_hash for r in s.scalars(select(ApiTokenRow))]
    assert not any(h in everything.text for h in hashes) and "sfs_" not in everything.text
    assert [t["id"] for t in client.get("/api/v1/tokens", params={"user": "pat"}, headers=admin).json()["tokens"]] \
        == [pat_id]
    # only admins
    err(client.get("/api/v1/tokens", headers=pat), 403, "forbidden")
    err(client.post(f"/api/v1/tokens/{admin_id}/revoke", headers=pat), 403, "forbidden")
    err(client.get("/api/v1/tokens"), 401, "unauthorized")
    # the planner's token works, is revoked, and is refused from then on
    assert client.get("/api/v1/audit", headers=pat).status_code == 200
    revoked = client.post(f"/api/v1/tokens/{pat_id}/revoke", headers=admin)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["token"]["status"] == "revoked" and revoked.json()["token"]["revoked_by"] == "root"
    body = err(client.get("/api/v1/audit", headers=pat), 401, "unauthorized")
    assert "revoked" in body["message"]
    body = err(client.get("/api/v1/audit", headers=old), 401, "unauthorized")
    assert "expired" in body["message"]
    err(client.post(f"/api/v1/tokens/{pat_id}/revoke", headers=admin), 409, "already_revoked")
    err(client.post("/api/v1/tokens/nosuchtoken/revoke", headers=admin), 404, "not_found")
    err(client.post("/api/v1/tokens/x%20y/revoke", headers=admin), 422, "validation_error")
    with central.read_sessions() as s:
        rec = s.scalars(select(AuditRow).where(AuditRow.action == "token.revoke")).one()
    assert (rec.actor, rec.target, rec.detail) == ("root", f"token/{pat_id}", {"user": "pat", "role": "planner"})


def test_token_expiry_days_is_validated_finite_and_positive(tmp_path: Path) -> None:
    for value in ("0", "-1", "inf", "nan", "1e300"):
        conf = tmp_path / "central.toml"
        conf.write_text(f"[auth]\ntoken_expiry_days = {value}\n")
        with pytest.raises(ConfigError, match=r"auth\.token_expiry_days"):
            load_settings(conf, environ={})
    conf.write_text("[auth]\ntoken_expiry_days = 30\n")
    assert load_settings(conf, environ={}).auth.token_expiry_days == 30
    assert load_settings(None, environ={}).auth.token_expiry_days == 90


def _cli(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SFSYNC_CENTRAL_DATABASE__URL": f"sqlite:///{workdir / 'central.db'}"}
    return subprocess.run([sys.executable, "-m", "sfsync.cli", "--log-level", "WARNING", "central", "token", *args],
                          capture_output=True, text=True, env=env, timeout=120, cwd=workdir)


@pytest.mark.timeout(300)
def test_cli_issues_lists_and_revokes(tmp_path: Path) -> None:
    conf = tmp_path / "central.toml"
    conf.write_text("[auth]\ntoken_expiry_days = 7\n")
    issued = _cli(tmp_path, "--user", "pat", "--role", "planner", "--config", str(conf))
    assert issued.returncode == 0, issued.stderr
    line = issued.stdout.strip().splitlines()[-1]
    token = line.split()[-1]
    token_id = token.split("_")[1]
    expires = datetime.fromisoformat(line.split("expires ", 1)[1].split(")", 1)[0])
    assert timedelta(days=6, hours=23) < expires - datetime.now(UTC) <= timedelta(days=7)
    assert line.startswith(f"sfsync: token for pat (planner, id {token_id}, expires ")
    listed = _cli(tmp_path, "list")
    assert listed.returncode == 0, listed.stderr
    assert token_id in listed.stdout and "active" in listed.stdout and token not in listed.stdout
    revoked = _cli(tmp_path, "revoke", token_id, "--by", "sec-officer")
    assert revoked.returncode == 0 and f"token {token_id} of pat (planner) revoked" in revoked.stdout
    assert token_id not in _cli(tmp_path, "list").stdout
    assert "revoked" in _cli(tmp_path, "list", "--all").stdout
    again = _cli(tmp_path, "revoke", token_id)
    assert again.returncode == 2 and "already revoked" in again.stderr
    missing = _cli(tmp_path, "--user", "pat")
    assert missing.returncode == 2 and "--user and --role" in missing.stderr
    bad = _cli(tmp_path, "--user", "pat", "--role", "planner", "--expires-days", "inf")
    assert bad.returncode == 2 and "--expires-days" in bad.stderr
