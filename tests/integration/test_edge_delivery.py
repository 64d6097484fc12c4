"""Edge delivery paths beyond the happy flow, against a real mosquitto and a real pymodbus PLC.

- re-send after central's ack did not come within ``mqtt.resend_timeout_s``;
- TLS (CA, client certificate) and username/password to the broker; a refused or failing
  connection is shown on /health and /metrics, logged once, retried, and recovers;
- MQTT 5 with a persistent session (SessionExpiryInterval).
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from support.edge import (
    AckResponder,
    ModbusPlc,
    RunningAgent,
    SecureBroker,
    TlsFiles,
    edge_toml,
    fetch_health,
    fetch_metrics,
    make_tls_files,
    mosquitto_passwd_binary,
    set_broker_password,
    start_agent,
)

from sfsync.broker import BrokerProcess, mosquitto_binary
from shared.waiting import wait_until_async

pytestmark = pytest.mark.timeout(60)

EDGE_PASSWORD = "edge-s3cret"
CENTRAL_PASSWORD = "central-s3cret"


@pytest.fixture
async def plc() -> AsyncIterator[ModbusPlc]:
    p = ModbusPlc()
    await p.set(0, [0, 1, 0, 1, 0])  # good 0, state running, scrap 0, scrap reason BURR
    await p.start()
    yield p
    await p.stop()


async def baselined(run: RunningAgent) -> None:
    """Wait for the first poll's events (good and scrap baselines, the state): counts start after them."""
    await wait_until_async("run.agent.store.last_seq() >= 3", lambda: run.agent.store.last_seq() >= 3, 20,
                           detail="no baseline events")


async def bump(run: RunningAgent, plc: ModbusPlc, value: int) -> None:
    """Set the good counter and wait until the agent has stored the count event it makes."""
    await baselined(run)
    before = run.agent.store.last_seq()
    await plc.set(0, [value])
    await wait_until_async("run.agent.store.last_seq() > before", lambda: run.agent.store.last_seq() > before, 15,
                           detail=lambda: f"counter {value} not stored")


def drained(run: RunningAgent) -> bool:
    store = run.agent.store
    return store.queued == 0 and store.acked_through() == store.last_seq()


# ---------------------------------------------------------------------- re-send after ack timeout


async def test_resend_from_last_acked_seq_after_ack_timeout(
    tmp_path: Path, broker: BrokerProcess, responder: AckResponder, plc: ModbusPlc
) -> None:
    cfg = tmp_path / "edge.toml"
    cfg.write_text(edge_toml(outbox=tmp_path / "outbox.db", mqtt_port=broker.port, plc_port=plc.port,
                             resend_timeout_s=1.0))
    run = await start_agent(cfg)
    try:
        store = run.agent.store
        await wait_until_async("store.last_seq() >= 3 and drained(run)", lambda: store.last_seq() >= 3 and drained(run),
                               20)  # 2 baselines, state: acked
        acked = store.last_seq()
        # Central loses the first delivery of the next two events: its ack stays at `acked`.
        responder.drop_first_delivery({acked + 1, acked + 2})
        first_batch = len(responder.batch_ranges)
        for value in (3, 7, 12):
            await bump(run, plc, value)
        await wait_until_async("drained(run)", lambda: drained(run), 30, detail="the outbox did not empty: no re-send?")

        stream = store.stream
        assert responder.dropped == [(stream, acked + 1), (stream, acked + 2)]
        assert responder.seqs(stream) == list(range(1, store.last_seq() + 1))  # gapless, nothing twice
        assert responder.qty("count") == 12
        later = responder.batch_ranges[first_batch:]
        carrying = [r for r in later if r[1] <= acked + 1 <= r[2]]
        assert len(carrying) >= 2, f"seq {acked + 1} was not sent again: {later}"
        # every re-send starts right after the last seq central acked, never from further back
        assert all(r[1] == acked + 1 for r in carrying[1:]), later

        metrics = await fetch_metrics(run.url)
        assert metrics["resends_total"] >= 1
        assert metrics["mqtt_reconnects_total"] == 0  # the timeout re-sent, not a reconnect
        assert metrics["backlog_events"] == 0
        health = await fetch_health(run.url)
        assert health["broker"]["resends"] == metrics["resends_total"]
    finally:
        await run.close()


# ---------------------------------------------------------------------- TLS and credentials


@pytest.fixture
def tls(tmp_path: Path) -> TlsFiles:
    return make_tls_files(tmp_path / "tls")


@pytest.fixture
def secure_broker(tmp_path: Path, tls: TlsFiles) -> Iterator[SecureBroker]:
    if mosquitto_binary() is None:
        pytest.skip("TLS/password tests need mosquitto (the embedded amqtt has no password file)")
    if mosquitto_passwd_binary() is None:
        pytest.skip("mosquitto_passwd is not installed (Debian package mosquitto): cannot make a password file")
    passwords = tmp_path / "passwd"
    set_broker_password(passwords, "edge-1", EDGE_PASSWORD)
    set_broker_password(passwords, "central-test", CENTRAL_PASSWORD)
    proc = SecureBroker(workdir=tmp_path / "secure-broker", tls=tls, password_file=passwords)
    proc.start()
    try:
        yield proc
    finally:
        proc.kill()


@pytest.fixture
def secure_responder(secure_broker: SecureBroker) -> Iterator[AckResponder]:
    r = AckResponder(secure_broker.host, secure_broker.plain_port, password=CENTRAL_PASSWORD).start()
    yield r
    r.stop()


def tls_toml(tmp_path: Path, broker: SecureBroker, plc: ModbusPlc, ca: Path, tls: TlsFiles,
             password: str | None = None) -> Path:
    creds = f'username = "edge-1"\npassword = "{password}"\n' if password is not None else 'username = "edge-1"\n'
    extra = creds + f'[mqtt.tls]\nca = "{ca}"\ncert = "{tls.client_cert}"\nkey = "{tls.client_key}"\n'
    cfg = tmp_path / "edge.toml"
    cfg.write_text(edge_toml(outbox=tmp_path / "outbox.db", mqtt_port=broker.port, plc_port=plc.port,
                             mqtt_extra=extra))
    return cfg


async def test_tls_with_client_certificate_and_password(
    tmp_path: Path, secure_broker: SecureBroker, secure_responder: AckResponder, plc: ModbusPlc, tls: TlsFiles
) -> None:
    cfg = tls_toml(tmp_path, secure_broker, plc, tls.ca, tls)
    # the password comes from the environment, as the docs recommend
    run = await start_agent(cfg, environ={"SFSYNC_EDGE_MQTT__PASSWORD": EDGE_PASSWORD})
    try:
        await bump(run, plc, 5)
        await wait_until_async(
            "drained(run) and secure_responder.qty('count') == 5",
            lambda: drained(run) and secure_responder.qty("count") == 5,
            20,
        )
        health = await fetch_health(run.url)
        assert health["broker"]["connected"] is True and health["broker"]["connect_failures"] == 0
        assert health["status"] == "ok"
        assert "u'edge-1'" in secure_broker.log_text()  # authenticated as the edge, over the TLS listener
    finally:
        await run.close()


async def test_wrong_password_is_reported_logged_once_and_recovers(
    tmp_path: Path, secure_broker: SecureBroker, secure_responder: AckResponder, plc: ModbusPlc, tls: TlsFiles,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="edge.forwarder")
    cfg = tls_toml(tmp_path, secure_broker, plc, tls.ca, tls, password="not-the-password")
    run = await start_agent(cfg)
    try:
        fwd = run.agent.forwarder
        await wait_until_async("fwd.stats.connect_failures >= 2", lambda: fwd.stats.connect_failures >= 2, 20,
                               detail="the agent did not retry")
        await bump(run, plc, 4)  # production goes on meanwhile: stored, not sent
        health = await fetch_health(run.url)
        assert health["status"] == "degraded"
        assert health["broker"]["connected"] is False and health["broker"]["connect_refused"] is True
        assert "Not authorized" in health["broker"]["last_error"], health["broker"]
        assert health["backlog"]["rows"] >= 1
        metrics = await fetch_metrics(run.url)
        assert metrics["mqtt_connect_refused"] == 1 and metrics["mqtt_connected"] == 0
        assert metrics["mqtt_connect_failures_total"] >= 2
        refusals = [r for r in caplog.records if "connect refused" in r.getMessage()]
        assert len(refusals) == 1 and refusals[0].levelno == logging.WARNING, [r.getMessage() for r in refusals]
        assert not run.task.done()
        # the operator's view (in a child process: the CLI configures logging for its process)
        status = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "sfsync.cli", "edge", "status", "--config", str(cfg)],
            capture_output=True, text=True, timeout=30)
        assert status.returncode == 0, status.stderr
        assert "broker: connect refused: Not authorized" in status.stdout, status.stdout

        # The broker is fixed (the edge's password accepted): the agent connects by itself and drains.
        assert secure_broker.password_file is not None
        await asyncio.to_thread(set_broker_password, secure_broker.password_file, "edge-1", "not-the-password")
        secure_broker.reload()
        await wait_until_async(
            "drained(run) and secure_responder.qty('count') == 4",
            lambda: drained(run) and secure_responder.qty("count") == 4,
            30,
        )
        metrics = await fetch_metrics(run.url)
        assert metrics["mqtt_connect_refused"] == 0 and metrics["mqtt_connected"] == 1
        assert len([r for r in caplog.records if "connect refused" in r.getMessage()]) == 1
        assert any("accepts the connection again" in r.getMessage() for r in caplog.records)
    finally:
        await run.close()


async def test_untrusted_server_certificate_is_reported(
    tmp_path: Path, secure_broker: SecureBroker, plc: ModbusPlc, tls: TlsFiles, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="edge.forwarder")
    other_ca = make_tls_files(tmp_path / "other-ca").ca  # a CA that did not sign the broker's certificate
    cfg = tls_toml(tmp_path, secure_broker, plc, other_ca, tls, password=EDGE_PASSWORD)
    run = await start_agent(cfg)
    try:
        fwd = run.agent.forwarder
        await wait_until_async("fwd.stats.connect_failures >= 2", lambda: fwd.stats.connect_failures >= 2, 20,
                               detail="the agent did not retry")
        health = await fetch_health(run.url)
        assert health["broker"]["connected"] is False and health["broker"]["connect_refused"] is False
        assert "CERTIFICATE_VERIFY_FAILED" in health["broker"]["last_error"], health["broker"]
        assert len([r for r in caplog.records if "cannot connect" in r.getMessage()]) == 1
    finally:
        await run.close()


# ---------------------------------------------------------------------- MQTT 5


async def test_mqtt5_delivers_and_keeps_its_session(
    tmp_path: Path, broker: BrokerProcess, responder: AckResponder, plc: ModbusPlc
) -> None:
    if broker.kind != "mosquitto":
        pytest.skip("MQTT 5 needs mosquitto (amqtt speaks 3.1.1)")
    cfg = tmp_path / "edge.toml"
    cfg.write_text(edge_toml(outbox=tmp_path / "outbox.db", mqtt_port=broker.port, plc_port=plc.port,
                             protocol="5", client_id="edge-1-v5"))
    run = await start_agent(cfg)
    try:
        fwd = run.agent.forwarder
        await wait_until_async("fwd.stats.connected", lambda: fwd.stats.connected, 20)
        assert fwd.stats.session_present is False  # a new client id: no session yet
        await bump(run, plc, 6)
        await wait_until_async(
            "drained(run) and responder.qty('count') == 6",
            lambda: drained(run) and responder.qty("count") == 6,
            20,
        )
    finally:
        await run.close()
    log_text = (broker.workdir / "mosquitto.log").read_text(errors="replace")
    assert "as edge-1-v5 (p5, c0" in log_text  # MQTT 5, clean start off

    # Restarted, the agent finds its session on the broker: SessionExpiryInterval kept it past
    # the disconnect (without it an MQTT 5 session ends at disconnect).
    run = await start_agent(cfg)
    try:
        fwd = run.agent.forwarder
        await wait_until_async("fwd.stats.connected", lambda: fwd.stats.connected, 20)
        assert fwd.stats.session_present is True
        metrics = await fetch_metrics(run.url)
        assert metrics["mqtt_session_present"] == 1
        await bump(run, plc, 9)
        await wait_until_async(
            "drained(run) and responder.qty('count') == 9",
            lambda: drained(run) and responder.qty("count") == 9,
            20,
        )
        assert run.agent.store.last_seq() == max(responder.seqs(run.agent.store.stream))
    finally:
        await run.close()
