"""Test helpers for the edge agent: a central stand-in (ack responder), a Modbus PLC, configs.

``AckResponder`` plays central on a real broker: it subscribes to every edge's events,
records each event under ``(stream, seq)`` (duplicates counted, not stored twice) and
publishes the retained ack ``{"stream", "acked_through"}`` of the highest contiguous seq,
exactly like central does after its commit. ``pause()`` stops acking (events are still
recorded) to show the outbox keeps what central has not acked.

``ModbusPlc`` is a real pymodbus TCP server on a free port whose holding registers a test
sets (``await plc.set(address, [values])``) and can stop and restart (a PLC restart).
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge.agent import Agent
from edge.config import load_edge_settings
from sfsync.broker import BrokerProcess, free_port, mosquitto_binary
from shared.contract import decode_batch
from shared.topics import EVENTS_FILTER, parse_topic
from support.protocols import NS_URI

__all__ = [
    "AckResponder",
    "ModbusPlc",
    "RunningAgent",
    "SecureBroker",
    "TlsFiles",
    "edge_toml",
    "fetch_health",
    "fetch_metrics",
    "make_tls_files",
    "mosquitto_passwd_binary",
    "set_broker_password",
    "start_agent",
]


class AckResponder:
    """Central stand-in: record every event once, ack the highest contiguous seq (retained)."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        validate: bool = True,
        record: bool = True,
        client_id: str | None = None,
        username: str = "central-test",
        password: str | None = None,
        tls_ca: Path | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.validate = validate
        self.record = record  # False: keep only seqs (benchmarks with millions of events)
        self.received = 0
        self._seen: dict[str, set[int]] = {}
        self.events: dict[tuple[str, int], dict[str, Any]] = {}
        self.duplicates = 0
        self.batches = 0
        self.batch_ranges: list[tuple[str, int, int]] = []  # (stream, first seq, last seq) of each batch received
        self.problems: list[str] = []
        self.acked: dict[str, int] = {}
        self._topics: dict[str, tuple[str, str]] = {}
        self._paused = False
        self._drop_first: set[int] = set()
        self.dropped: list[tuple[str, int]] = []  # (stream, seq) deliveries ignored on purpose
        self._cond = threading.Condition()
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id or f"ack-responder-{uuid.uuid4().hex[:8]}"
        )
        self._client.username_pw_set(username, password)
        if tls_ca is not None:
            self._client.tls_set(ca_certs=str(tls_ca))
        self._client.max_queued_messages_set(0)
        self._client.max_inflight_messages_set(100)
        self._client.reconnect_delay_set(1, 2)
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self.connected = threading.Event()

    def start(self) -> AckResponder:
        self._client.connect_async(self.host, self.port, keepalive=30)
        self._client.loop_start()
        if not self.connected.wait(15):
            raise TimeoutError("ack responder could not connect to the broker")
        return self

    def stop(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def pause(self) -> None:
        self._paused = True

    def resume(self) -> None:
        with self._cond:
            self._paused = False
            for stream in list(self.acked):
                self._advance(stream)

    def drop_first_delivery(self, seqs: set[int]) -> None:
        """Ignore the first delivery of each of these seqs (of any stream), as if it were lost on
        the way to central: the ack stops below the first one until the edge sends it again."""
        with self._cond:
            self._drop_first |= set(seqs)

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if not reason.is_failure:
            client.subscribe(EVENTS_FILTER, qos=1)
            self.connected.set()

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            plant, edge, channel = parse_topic(msg.topic)
        except ValueError:
            return
        if channel != "events":
            return
        payload = bytes(msg.payload)
        if self.validate:
            decoded = decode_batch(payload)
            stream = decoded.stream
            docs = [e.model_dump(mode="json") for e in decoded.events]
            self.problems += [f"seq {p.seq}: {p.field}: {p.reason}" for p in decoded.problems]
        else:
            obj = orjson.loads(payload)
            stream, docs = obj["stream"], obj["events"]
        with self._cond:
            self.batches += 1
            if docs:
                self.batch_ranges.append((stream, int(docs[0]["seq"]), int(docs[-1]["seq"])))
            self._topics[stream] = (plant, edge)
            self.acked.setdefault(stream, 0)
            seen = self._seen.setdefault(stream, set())
            for doc in docs:
                seq = int(doc["seq"])
                key = (stream, seq)
                if seq in self._drop_first:
                    self._drop_first.discard(seq)
                    self.dropped.append(key)
                    continue
                if key in self.events or seq in seen or (seq <= self.acked[stream] and not self.record):
                    self.duplicates += 1
                elif self.record:
                    self.events[key] = doc
                else:
                    seen.add(seq)
                self.received += 1
            self._advance(stream)
            self._cond.notify_all()

    def _advance(self, stream: str) -> None:
        through = self.acked[stream]
        seen = self._seen.get(stream, set())
        while (stream, through + 1) in self.events or through + 1 in seen:
            through += 1
        if self._paused or through == 0:
            return
        seen.difference_update(range(self.acked[stream] + 1, through + 1))
        # re-acked on every batch, duplicates too, like central: an ack lost with a broker is repaired
        self.acked[stream] = through
        plant, edge = self._topics[stream]
        ack = orjson.dumps({"stream": stream, "acked_through": through})
        self._client.publish(f"sfsync/v1/{plant}/{edge}/ack", ack, qos=1, retain=True)

    # ------------------------------------------------------------------ queries

    def wait_for(self, predicate: Callable[[AckResponder], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.5))
            return True

    def stream_events(self, stream: str | None = None) -> list[dict[str, Any]]:
        with self._cond:
            keys = sorted(k for k in self.events if stream is None or k[0] == stream)
            return [self.events[k] for k in keys]

    def qty(self, kind: str = "count", machine: str | None = None, include_suspect: bool = True) -> int:
        total = 0
        for ev in self.stream_events():
            if ev["kind"] != kind or (machine is not None and ev["machine"] != machine):
                continue
            if not include_suspect and "suspect" in ev["flags"]:
                continue
            total += int(ev["qty"])
        return total

    def seqs(self, stream: str) -> list[int]:
        with self._cond:
            return sorted(s for (st, s) in self.events if st == stream)


class ModbusPlc:
    """A real Modbus TCP server (pymodbus) with 200 holding registers, on a free port."""

    def __init__(self, port: int | None = None, size: int = 200) -> None:
        self.port = port or free_port()
        self.size = size
        self._server: Any = None
        self._values = [0] * size

    async def start(self) -> ModbusPlc:
        from pymodbus.server import ModbusTcpServer
        from pymodbus.simulator import DataType, SimData, SimDevice

        device = SimDevice(id=1, simdata=[SimData(address=0, values=list(self._values), datatype=DataType.REGISTERS)])
        self._server = ModbusTcpServer(device, address=("127.0.0.1", self.port))
        await self._server.serve_forever(background=True)
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._values = await self._server.async_getValues(1, 3, 0, self.size)
            await self._server.shutdown()
            self._server = None

    async def set(self, address: int, values: list[int]) -> None:
        for i, v in enumerate(values):
            self._values[address + i] = v
        if self._server is not None:
            await self._server.async_setValues(1, 3, address, values)

    async def set_u32(self, address: int, value: int) -> None:
        """A u32 in big word order (high register first)."""
        await self.set(address, [(value >> 16) & 0xFFFF, value & 0xFFFF])


def edge_toml(
    *,
    outbox: Path,
    mqtt_port: int,
    plc_port: int,
    status_port: int = 0,
    poll_ms: int = 50,
    commit_window_ms: int = 20,
    resend_timeout_s: float = 30.0,
    extra_machine: str = "",
    width: int = 16,
    sanity: int = 1000,
    max_rate_per_s: float = 100.0,
    client_id: str | None = None,
    protocol: str = "3.1.1",
    max_rows: int = 5_000_000,
    max_bytes: int = 2 * 1024**3,
    mqtt_extra: str = "",
) -> str:
    """An edge.toml for one Modbus PLC: machine M1 with a u16 good counter at 0, state at 1.

    ``max_rate_per_s`` is the good counter's top rate (a drop within it is a rollover).

    ``mqtt_extra`` is TOML appended to the ``[mqtt]`` table (credentials); a ``[mqtt.tls]``
    table goes after it, so pass that one last inside ``mqtt_extra``.
    """
    cid = f'client_id = "{client_id}"\n' if client_id else ""
    return f"""
plant = "P1"
edge = "edge-1"

[outbox]
path = "{outbox}"
commit_window_ms = {commit_window_ms}
max_rows = {max_rows}
max_bytes = {max_bytes}

[mqtt]
host = "127.0.0.1"
port = {mqtt_port}
resend_timeout_s = {resend_timeout_s}
reconnect_min_s = 1
reconnect_max_s = 2
protocol = "{protocol}"
{cid}{mqtt_extra}
[status]
port = {status_port}

[[sources]]
name = "plc1"
protocol = "modbus"
host = "127.0.0.1"
port = {plc_port}
poll_interval_ms = {poll_ms}
timeout_s = 1.0
reconnect_min_s = 0.2
reconnect_max_s = 1.0
tags = [
  {{ name = "good", address = 0, type = "u16" }},
  {{ name = "state", address = 1, type = "u16" }},
  {{ name = "scrap", address = 2, type = "u16" }},
  {{ name = "scrap_reason", address = 3, type = "u16" }},
  {{ name = "stop_reason", address = 4, type = "u16" }},
]

[[machines]]
id = "M1"
good = {{ tag = "good", width = {width}, sanity = {sanity}, max_rate_per_s = {max_rate_per_s} }}
scrap = [{{ tag = "scrap", width = 16, reason_tag = "scrap_reason", reason_map = {{ "1" = "BURR", "2" = "CRACK" }} }}]
state = {{ tag = "state", reason_tag = "stop_reason", reasons = {{ "7" = "EQ_FAIL" }} }}
{extra_machine}
"""


def opcua_edge_toml(*, outbox: Path, mqtt_port: int, endpoint: str, tag: str, locator: str) -> str:
    """An edge.toml for one OPC UA server (namespace ``NS_URI`` of ``support.protocols``): source
    ``ua`` with one tag ``tag`` at ``locator`` (``node = "..."`` or ``path = "..."``), publishing
    every 50 ms, reconnecting after 0.2-1 s; machine UA1 counts it (u32, sanity 100000)."""
    return f"""
plant = "P1"
edge = "edge-ua"
[outbox]
path = "{outbox}"
commit_window_ms = 20
[mqtt]
port = {mqtt_port}
[status]
enabled = false
[[sources]]
name = "ua"
protocol = "opcua"
endpoint = "{endpoint}"
namespace_uri = "{NS_URI}"
publishing_interval_ms = 50
reconnect_min_s = 0.2
reconnect_max_s = 1.0
tags = [{{ name = "{tag}", {locator} }}]
[[machines]]
id = "UA1"
good = {{ tag = "{tag}", width = 32, sanity = 100000 }}
"""


def last_value(events: list[dict[str, object]]) -> int:
    """The raw counter value of the last event (0 without events)."""
    raw = events[-1]["raw"] if events else None
    return int(raw["value"]) if isinstance(raw, dict) else 0


# ---------------------------------------------------------------------- TLS and password broker


@dataclass(frozen=True)
class TlsFiles:
    """A test CA and, signed by it, a server certificate (127.0.0.1, localhost) and a client one."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def make_tls_files(directory: Path) -> TlsFiles:
    """Generate a throw-away CA, server and client certificate (EC P-256) with ``cryptography``."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> Path:
        path.write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        return path

    def write_cert(cert: x509.Certificate, path: Path) -> Path:
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return path

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(name("sfsync test CA"))
        .issuer_name(name("sfsync test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    def leaf(cn: str, usage: x509.ObjectIdentifier, san: list[x509.GeneralName]) -> tuple[x509.Certificate, Any]:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(cn))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        )
        if san:
            builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        return builder.sign(ca_key, hashes.SHA256()), key

    server, server_key = leaf("127.0.0.1", ExtendedKeyUsageOID.SERVER_AUTH,
                              [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")])
    client, client_key = leaf("edge-1", ExtendedKeyUsageOID.CLIENT_AUTH, [])
    return TlsFiles(
        ca=write_cert(ca_cert, directory / "ca.crt"),
        server_cert=write_cert(server, directory / "server.crt"),
        server_key=write_key(server_key, directory / "server.key"),
        client_cert=write_cert(client, directory / "client.crt"),
        client_key=write_key(client_key, directory / "client.key"),
    )


def mosquitto_passwd_binary() -> str | None:
    return shutil.which("mosquitto_passwd") or (
        "/usr/bin/mosquitto_passwd" if Path("/usr/bin/mosquitto_passwd").exists() else None
    )


def set_broker_password(password_file: Path, user: str, password: str) -> None:
    """Add or change ``user`` in a mosquitto password file (``mosquitto_passwd -b``)."""
    binary = mosquitto_passwd_binary()
    if binary is None:
        raise RuntimeError("mosquitto_passwd is not installed")
    args = [binary, "-b", str(password_file), user, password]
    if not password_file.exists():
        password_file.touch()
    subprocess.run(args, check=True, capture_output=True, timeout=30)


@dataclass
class SecureBroker(BrokerProcess):
    """Mosquitto with no anonymous access: a password file for every listener, ``port`` is a TLS
    listener (client certificate required when ``require_certificate``) and ``plain_port`` a plain
    one (for the central stand-in). ``reload()`` re-reads the password file (SIGHUP)."""

    tls: TlsFiles | None = None
    password_file: Path | None = None
    require_certificate: bool = True
    plain_port: int = 0

    def __post_init__(self) -> None:
        self.kind = "mosquitto"
        self.persistence = False
        super().__post_init__()
        if self.plain_port == 0:
            self.plain_port = free_port(self.host)

    def _config(self) -> tuple[list[str], Path]:
        assert self.tls is not None and self.password_file is not None
        conf = self.workdir / "mosquitto-secure.conf"
        logfile = self.workdir / "mosquitto.log"
        lines = [
            "user root",
            "per_listener_settings false",
            "allow_anonymous false",
            f"password_file {self.password_file}",
            "max_queued_messages 0",
            "max_inflight_messages 0",
            "persistence false",
            f"log_dest file {logfile}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            f"listener {self.port} {self.host}",
            f"cafile {self.tls.ca}",
            f"certfile {self.tls.server_cert}",
            f"keyfile {self.tls.server_key}",
            f"require_certificate {'true' if self.require_certificate else 'false'}",
            f"listener {self.plain_port} {self.host}",
            self.extra_config,
        ]
        conf.write_text("\n".join(lines) + "\n")
        return [mosquitto_binary() or "mosquitto", "-c", str(conf)], logfile

    def reload(self) -> None:
        """SIGHUP: mosquitto re-reads its password file without dropping connections."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGHUP)

    def log_text(self) -> str:
        path = self.workdir / "mosquitto.log"
        return path.read_text(errors="replace") if path.exists() else ""


# ---------------------------------------------------------------------- status endpoint


async def fetch_metrics(url: str) -> dict[str, float]:
    """``GET {url}/metrics`` parsed: ``{"name{labels}": value}`` (names without the prefix too)."""
    import httpx

    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.get(url + "/metrics")
    response.raise_for_status()
    out: dict[str, float] = {}
    for line in response.text.splitlines():
        if not line or line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        out[key] = float(value)
        out[key.removeprefix("sfsync_edge_")] = float(value)
    return out


async def fetch_health(url: str) -> dict[str, Any]:
    import httpx

    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.get(url + "/health")
    response.raise_for_status()
    doc: dict[str, Any] = response.json()
    return doc


# ---------------------------------------------------------------------- a running agent


class RunningAgent:
    """An :class:`edge.agent.Agent` running as a task on the test's loop; ``close()`` stops it cleanly."""

    def __init__(self, agent: Agent, task: asyncio.Task[None], stop: asyncio.Event) -> None:
        self.agent, self.task, self.stop = agent, task, stop

    @property
    def url(self) -> str:
        assert self.agent.status is not None, "status endpoint disabled"
        return self.agent.status.url

    async def close(self) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, 30)


async def start_agent(config: Path, environ: dict[str, str] | None = None) -> RunningAgent:
    """Load ``config`` (plus ``environ`` overrides, instead of the process environment) and run an agent."""
    agent = Agent(load_edge_settings(config, environ if environ is not None else {}))
    stop = asyncio.Event()
    task = asyncio.create_task(agent.run(stop))
    ready = asyncio.create_task(agent.ready.wait())
    done, _ = await asyncio.wait({task, ready}, timeout=20, return_when=asyncio.FIRST_COMPLETED)
    if ready not in done:
        ready.cancel()
        stop.set()
        if task in done:
            task.result()  # the agent failed to start: raise its error
        raise TimeoutError("edge agent did not become ready within 20 s")
    return RunningAgent(agent, task, stop)
