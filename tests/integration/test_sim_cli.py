"""``sfsync sim`` as a subprocess: ready line, control port, signals, clean exit, byte-identical truth."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from pymodbus.client import ModbusTcpClient
from support.sim import truth_lines

from sfsync.broker import free_port

pytestmark = pytest.mark.timeout(120)

CONFIG = """
seed = {seed}
[clock]
start = "2026-01-05T06:00:00Z"
speed = {speed}
{run_for}
[opcua]
enabled = false
[modbus]
enabled = {modbus}
port = {port}
[control]
port = 0
[[machines]]
id = "P{{n:02}}"
count = 3
cycle_s = 2
cycle_jitter_s = 0.5
scrap_rate = 0.05
mtbf_s = 900
stops = [{{ reason = "EQ_FAIL", min_s = 30, max_s = 300 }}, {{ state = "idle", reason = "NO_ORDER" }}]
"""


def _start(tmp: Path, name: str, **fmt: object) -> tuple[subprocess.Popen[str], Path, dict[str, object]]:
    cfg = tmp / f"{name}.toml"
    values = {"seed": 5, "speed": 7200, "run_for": "", "modbus": "false", "port": 0} | fmt
    cfg.write_text(CONFIG.format(**values))
    truth = tmp / f"{name}.jsonl"
    ready = tmp / f"{name}.ready.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "sfsync.cli", "sim", "--config", str(cfg), "--truth", str(truth),
         "--ready-file", str(ready), *(["--exit-when-done"] if fmt.get("run_for") else [])],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("SFSYNC-SIM READY "), line + (proc.stderr.read() if proc.stderr else "")
    info = json.loads(line.split(" ", 2)[2])
    assert json.loads(ready.read_text()) == info
    return proc, truth, info


def test_same_seed_gives_byte_identical_truth_logs(tmp_path: Path) -> None:
    outputs = []
    for name in ("a", "b"):
        proc, truth, _ = _start(tmp_path, name, run_for="run_for_s = 14400")
        assert proc.wait(timeout=90) == 0
        outputs.append(truth.read_bytes())
    assert outputs[0] == outputs[1]
    lines = [json.loads(x) for x in outputs[0].splitlines()]
    assert lines[-1] == {"t": "2026-01-05T10:00:00.000Z", "kind": "end"}
    assert {r["kind"] for r in lines} >= {"start", "count", "scrap", "state"}
    proc, truth, _ = _start(tmp_path, "c", run_for="run_for_s = 14400", seed=6)
    assert proc.wait(timeout=90) == 0
    assert truth.read_bytes() != outputs[0]


def test_signals_control_port_and_clean_exit(tmp_path: Path) -> None:
    port = free_port()
    proc, truth, info = _start(tmp_path, "live", speed=5, modbus="true", port=port)
    try:
        assert info["modbus_port"] == port and info["opcua_endpoint"] is None
        control = str(info["control_url"])
        client = ModbusTcpClient("127.0.0.1", port=port, timeout=5)
        assert client.connect()

        def good() -> int:
            rr = client.read_holding_registers(0, count=2, device_id=1)
            assert not rr.isError()
            return int(client.convert_from_registers(rr.registers, data_type=client.DATATYPE.UINT32))

        deadline = time.monotonic() + 30
        while good() < 3:
            assert time.monotonic() < deadline, "P01 never counted to 3"
            time.sleep(0.1)
        os.kill(proc.pid, signal.SIGUSR1)  # counter_reset on every machine
        deadline = time.monotonic() + 30
        while not any(r.get("fault") == "counter_reset" for r in truth_lines(truth)):
            assert time.monotonic() < deadline, "SIGUSR1 did not reset"
            time.sleep(0.1)
        r = httpx.post(f"{control}/faults", json={"kind": "modbus_exception", "machine": "P02"}, timeout=10)
        assert r.status_code == 200, r.text
        refused = client.read_holding_registers(0, count=2, device_id=2)
        assert refused.isError() and refused.exception_code == 6
        assert not client.read_holding_registers(0, count=2, device_id=1).isError()
        bad = httpx.post(f"{control}/faults", json={"kind": "explode"}, timeout=10)
        assert bad.status_code == 400 and "error" in bad.json()
        status = httpx.get(f"{control}/status", timeout=10).json()
        assert status["producing"] is True and set(status["machines"]) == {"P01", "P02", "P03"}
        client.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    lines = truth_lines(truth)
    assert lines[-1]["kind"] == "end"


def test_bad_config_exits_2_with_the_key(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text('[[machines]]\nid = "M"\ncycle_s = -1\n')
    out = subprocess.run([sys.executable, "-m", "sfsync.cli", "sim", "--config", str(cfg)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "machines.0.cycle_s" in out.stderr
