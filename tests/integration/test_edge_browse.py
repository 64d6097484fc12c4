"""``sfsync edge browse opc.tcp://...``: the simulator, a plain asyncua server, credentials and security.

- the simulator: every counter is listed with node id, type, access and its current value, and
  the ``--toml`` entries resolve (through the edge's own OPC UA source) to the same values;
- a plain asyncua server with nested folders, three namespaces and a few hundred nodes:
  ``--depth``, ``--match``, ``--namespace-uri`` and the node limit (which says where it stopped);
- a server that wants a user, and one that offers only Basic256Sha256 SignAndEncrypt: right
  credentials/certificates browse, wrong ones are one line and exit 2 (as is an unreachable server).
"""

from __future__ import annotations

import asyncio
import re
import tomllib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from asyncua import ua
from asyncua.server.server import Server
from support.protocols import NS_URI, TEST_PASSWORD, TEST_USER, OpcUaServerProcess, make_certificate
from support.sim import plant_settings

from device_sim.plant import SimPlant
from protocols import build_source
from protocols.config import OpcUaSourceConfig
from sfsync.broker import free_port
from sfsync.cli import main

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(120)]

MACHINES: list[dict[str, Any]] = [
    {"id": "P1", "counter_start": 500, "cycle_s": 2, "scrap_rate": 0.1},
    {"id": "P2", "counter_bits": 16, "counter_start": 10, "cycle_s": 3},
]
URN_A, URN_B = "urn:test:browse:a", "urn:test:browse:b"
BULK = 120


async def run_cli(argv: list[str]) -> int:
    """``sfsync`` in a thread: it runs its own event loop (the servers here run on this one)."""
    return await asyncio.to_thread(main, argv)


def ours(err: str) -> list[str]:
    """sfsync's own stderr lines (an in-process server logs to the same stderr)."""
    return [line for line in err.splitlines() if line.startswith("sfsync")]


def variables(out: str) -> dict[str, tuple[str, str, str, str]]:
    """path -> (node id, data type, access, value) of every variable line of the tree."""
    found = {}
    for line in out.splitlines():
        m = re.match(r"^\s+(Objects/\S+)  \[(.+?)\]  (\S+)  (\S+)  = (.*)$", line)
        if m:
            found[m.group(1)] = (m.group(2), m.group(3), m.group(4), m.group(5))
    return found


def folders(out: str) -> list[str]:
    return [m.group(1) for line in out.splitlines() if (m := re.match(r"^\s+(Objects/\S+)/  \[", line))]


# ------------------------------------------------------------------ the simulator


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def plant(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[SimPlant]:
    truth = tmp_path_factory.mktemp("sim") / "truth.jsonl"
    async with SimPlant(plant_settings(MACHINES, clock={"run_for_s": 1800}), truth) as p:
        await p.wait_ended()
        yield p


async def test_browse_the_simulator(plant: SimPlant, capsys: pytest.CaptureFixture[str]) -> None:
    assert plant.opcua_endpoint is not None
    code = await run_cli(["edge", "browse", plant.opcua_endpoint])
    out = capsys.readouterr().out
    assert code == 0, out
    found = variables(out)
    namespace = plant.settings.opcua.namespace
    assert f'namespace_uri = "{namespace}"' in out
    for machine in MACHINES:
        good = found[f"Objects/Plant/Line1/{machine['id']}/Counters/Good"]
        node_id, data_type, access, value = good
        assert node_id.endswith(f"s=Plant.Line1.{machine['id']}.Counters.Good")
        assert data_type == ("UInt16" if machine.get("counter_bits") == 16 else "UInt32")
        assert access.startswith("read")
        assert int(value) >= int(machine["counter_start"])
        assert f"Objects/Plant/Line1/{machine['id']}/Status/Running" in found
    assert not any(p.startswith(("Objects/Server", "Objects/0:Server")) for p in found)  # unless --standard-nodes
    assert "stopped at the node limit" not in out


async def test_browse_toml_entries_resolve_to_the_same_values(
    plant: SimPlant, capsys: pytest.CaptureFixture[str]
) -> None:
    assert plant.opcua_endpoint is not None
    assert await run_cli(["edge", "browse", plant.opcua_endpoint, "--match", "*/Counters/*"]) == 0
    tree = variables(capsys.readouterr().out)
    code = await run_cli(["edge", "browse", plant.opcua_endpoint, "--match", "*/Counters/*", "--toml"])
    out = capsys.readouterr().out
    assert code == 0, out
    doc = tomllib.loads(out)
    uri = re.search(r'^# namespace_uri = "(.+?)"', out, re.M)
    assert uri is not None
    tags = doc["tags"]
    assert {t["path"] for t in tags} == set(tree) and tree
    assert all("/Counters/" in t["path"] for t in tags)
    config = OpcUaSourceConfig.model_validate(
        {"name": "sim", "endpoint": plant.opcua_endpoint, "namespace_uri": uri.group(1), "tags": tags}
    )
    rows = await build_source(config).probe()
    by_name = {t["name"]: t["path"] for t in tags}
    assert len(rows) == len(tags)
    for row in rows:
        assert row.quality.value == "good", row
        assert str(row.value) == tree[by_name[row.tag]][3], (row.tag, row.value)


# ------------------------------------------------------------------ a plain asyncua server


@dataclass(frozen=True)
class Nested:
    endpoint: str
    a: int  # namespace index of URN_A
    b: int  # namespace index of URN_B


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def nested() -> AsyncIterator[Nested]:
    """Objects/Area/Cell1/Deep1/Deep2/Deep3/Temp (urn a), Objects/Area/Cell1/{nested.b}:Other (urn b),
    Objects/Area/3:Gadget/2:Speed (writable), Objects/Bulk/Pad0..Pad119 (urn a), a filler namespace."""
    server = Server()
    await server.init()
    endpoint = f"opc.tcp://127.0.0.1:{free_port()}/browse/"
    server.set_endpoint(endpoint)
    await server.register_namespace("urn:test:browse:filler")
    a = await server.register_namespace(URN_A)
    b = await server.register_namespace(URN_B)
    objects = server.nodes.objects
    area = await objects.add_folder(a, "Area")
    cell = await area.add_object(a, "Cell1")
    deep = cell
    for level in (1, 2, 3):
        deep = await deep.add_folder(a, f"Deep{level}")
    await deep.add_variable(a, "Temp", ua.Variant(21.5, ua.VariantType.Double))
    await cell.add_variable(b, "Other", ua.Variant(-7, ua.VariantType.Int32))
    gadget = await area.add_object(b, "Gadget")
    speed = await gadget.add_variable(a, "Speed", ua.Variant(1200, ua.VariantType.UInt16))
    await speed.set_writable()
    bulk = await objects.add_folder(a, "Bulk")
    for i in range(BULK):
        await bulk.add_variable(a, f"Pad{i}", ua.Variant(i, ua.VariantType.UInt32))
    async with server:
        yield Nested(endpoint, a, b)


async def test_nested_folders_and_namespaces(nested: Nested, capsys: pytest.CaptureFixture[str]) -> None:
    code = await run_cli(["edge", "browse", nested.endpoint, "--limit", "1000"])
    out = capsys.readouterr().out
    assert code == 0, out
    found = variables(out)
    # namespace a holds most variables: its segments go unprefixed, namespace b's get "<b>:"
    assert f'namespace_uri = "{URN_A}"' in out
    assert found["Objects/Area/Cell1/Deep1/Deep2/Deep3/Temp"][1:] == ("Double", "read", "21.5")
    assert found[f"Objects/Area/Cell1/{nested.b}:Other"][1:] == ("Int32", "read", "-7")
    assert found[f"Objects/Area/{nested.b}:Gadget/Speed"][1:] == ("UInt16", "read/write", "1200")
    assert len([p for p in found if p.startswith("Objects/Bulk/Pad")]) == BULK
    assert "Objects/Area/Cell1/Deep1/Deep2/Deep3" in folders(out)
    assert f"{BULK + 10} nodes walked" in out  # Area, Cell1, Deep1-3, Gadget, Bulk + Temp, Other, Speed + pads
    assert not any(p.startswith("Objects/0:") for p in [*found, *folders(out)])  # standard nodes skipped


async def test_namespace_uri_sets_which_segments_go_unprefixed(
    nested: Nested, capsys: pytest.CaptureFixture[str]
) -> None:
    code = await run_cli(["edge", "browse", nested.endpoint, "--namespace-uri", URN_B, "--match", "Other"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert list(variables(out)) == [f"Objects/{nested.a}:Area/{nested.a}:Cell1/Other"]
    assert folders(out) == [f"Objects/{nested.a}:Area", f"Objects/{nested.a}:Area/{nested.a}:Cell1"]
    code = await run_cli(["edge", "browse", nested.endpoint, "--namespace-uri", "urn:nope"])
    err = capsys.readouterr().err
    assert code == 2 and "urn:nope" in ours(err)[0] and len(ours(err)) == 1


async def test_depth_limits_the_walk(nested: Nested, capsys: pytest.CaptureFixture[str]) -> None:
    code = await run_cli(["edge", "browse", nested.endpoint, "--depth", "3"])
    out = capsys.readouterr().out
    assert code == 0
    paths = set(variables(out)) | set(folders(out))
    assert "Objects/Area/Cell1/Deep1" in paths and f"Objects/Area/Cell1/{nested.b}:Other" in paths
    assert not any(p.startswith("Objects/Area/Cell1/Deep1/") for p in paths)
    code = await run_cli(["edge", "browse", nested.endpoint, "--depth", "1", "--standard-nodes"])
    out = capsys.readouterr().out
    top = {f.rsplit(":", 1)[-1].removeprefix("Objects/") for f in folders(out)}  # no variables: namespace 0 is
    assert code == 0 and {"Server", "Bulk", "Area"} <= top, out  # the default here, the others get prefixes


async def test_node_limit_says_where_it_stopped(nested: Nested, capsys: pytest.CaptureFixture[str]) -> None:
    code = await run_cli(["edge", "browse", nested.endpoint, "--limit", "50"])
    out = capsys.readouterr().out
    assert code == 0
    assert "50 nodes walked" in out
    m = re.search(r"stopped at the node limit after (\S+) \((\d+) more nodes found and not walked\)", out)
    assert m is not None, out
    listed = [*folders(out), *variables(out)]
    assert len(listed) == 50
    last_line = [line for line in out.splitlines() if line.startswith("  ")][-1]
    assert m.group(1) in last_line  # the last node printed is the one it stopped after
    assert int(m.group(2)) >= 1


async def test_match_keeps_matching_variables_and_their_folders(
    nested: Nested, capsys: pytest.CaptureFixture[str]
) -> None:
    code = await run_cli(["edge", "browse", nested.endpoint, "--match", "Pad1?", "--toml"])
    out = capsys.readouterr().out
    assert code == 0
    tags = tomllib.loads(out)["tags"]
    assert sorted(t["path"] for t in tags) == sorted(f"Objects/Bulk/Pad{i}" for i in range(10, 20))
    assert len({t["name"] for t in tags}) == 10
    code = await run_cli(["edge", "browse", nested.endpoint, "--match", "NoSuchThing*"])
    captured = capsys.readouterr()
    assert code == 0 and not variables(captured.out) and "no variable matches" in captured.err


# ------------------------------------------------------------------ credentials, security, bad input


@pytest.fixture(scope="module")
def user_server() -> Iterator[OpcUaServerProcess]:
    server = OpcUaServerProcess(free_port(), users=True)
    server.start()
    yield server
    server.stop()


async def test_username_and_password_from_the_environment(
    user_server: OpcUaServerProcess, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SFSYNC_OPCUA_PASSWORD", TEST_PASSWORD)
    code = await run_cli(["edge", "browse", user_server.endpoint, "--username", TEST_USER, "--match", "Good"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "Objects/Plant/Line1/Press7/Counters/Good" in variables(out)
    assert f'namespace_uri = "{NS_URI}"' in out
    monkeypatch.setenv("SFSYNC_OPCUA_PASSWORD", "wrong")
    code = await run_cli(["edge", "browse", user_server.endpoint, "--username", TEST_USER])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == "" and "Traceback" not in captured.err
    assert len(ours(captured.err)) == 1 and "cannot connect" in ours(captured.err)[0], captured.err


async def test_security_from_an_edge_config_and_a_wrong_policy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server_cert = make_certificate(tmp_path, "server", "urn:sfsync:test:server", server=True)
    client_cert, client_key = make_certificate(tmp_path, "edge", "urn:sfsync:test:edge", server=False)
    server = OpcUaServerProcess(free_port(), secure=server_cert)
    await asyncio.to_thread(server.start)
    try:
        # no security against a server offering only SignAndEncrypt: one line, exit 2
        code = await run_cli(["edge", "browse", server.endpoint, "--timeout", "2"])
        captured = capsys.readouterr()
        assert code == 2 and "Traceback" not in captured.err and len(ours(captured.err)) == 1, captured.err
        # the same keys a source takes, from an edge config
        cfg = tmp_path / "edge.toml"
        cfg.write_text(f"""
plant = "P1"
edge = "edge-1"
[outbox]
path = "{tmp_path / 'outbox.db'}"
[[sources]]
name = "press"
protocol = "opcua"
endpoint = "{server.endpoint}"
security_mode = "SignAndEncrypt"
security_policy = "Basic256Sha256"
certificate = "{client_cert}"
private_key = "{client_key}"
""")  # no tags and no machines yet: browse is how they get mapped
        code = await run_cli(["edge", "browse", "--config", str(cfg), "--match", "Good"])
        captured = capsys.readouterr()
        out = captured.out
        assert code == 0, captured.err
        assert "Objects/Plant/Line1/Press7/Counters/Good" in variables(out)
    finally:
        await asyncio.to_thread(server.stop)


BAD = [
    (["http://127.0.0.1:4840"], "endpoint"),
    ([], "give the endpoint"),
    (["opc.tcp://127.0.0.1:4840", "--depth", "0"], "--depth 0"),
    (["opc.tcp://127.0.0.1:4840", "--limit", "0"], "--limit 0"),
    (["opc.tcp://127.0.0.1:4840", "--security-mode", "Sign"], "needs security_policy"),
    (["opc.tcp://127.0.0.1:4840", "--source", "x"], "--source needs --config"),
]


@pytest.mark.parametrize(("args", "message"), BAD)
def test_bad_options_are_one_line_and_exit_2(args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["edge", "browse", *args])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1 and message in captured.err, captured.err


def test_unreachable_server_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["edge", "browse", f"opc.tcp://127.0.0.1:{free_port()}", "--timeout", "1"])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1 and "cannot connect" in captured.err, captured.err
