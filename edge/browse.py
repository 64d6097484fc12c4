"""``sfsync edge browse opc.tcp://HOST:PORT``: list what an OPC UA server offers, ready to map.

Walks the address space from ``Objects`` down (hierarchical references, depth first, each
node once), and for every variable reads its data type, access level and current value. The
walk is bounded: ``--depth`` levels below ``Objects`` and at most ``--limit`` nodes; when the
limit is hit the report says after which node it stopped and how to go on. The standard
nodes of namespace 0 under ``Objects`` (``Server`` with hundreds of diagnostics nodes,
``Aliases``, ``Locations`` ...) are skipped unless ``--standard-nodes`` is given.

Paths are printed in the browse path form tags take (:mod:`protocols.opcua_paths`): segments
in the default namespace (``--namespace-uri``, else the namespace most variables are in)
without a prefix, others with ``<index>:``. ``--match PATTERN`` (shell glob on the browse
path, or on the browse name alone when the pattern has no ``/``) keeps the matching
variables and the folders leading to them; ``--toml`` prints ready tag entries for them.

The connection is made exactly as a source's is (:mod:`protocols.opcua_client`): security
mode and policy, client certificate and key, server certificate, user and password are the
source config's keys, validated by :class:`protocols.config.OpcUaSourceConfig`. Only Browse
and Read services are used: nothing is ever written.

An unreachable server, a refused connection, a wrong security policy or a bad option are
:class:`BrowseError` (one line, exit 2).
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from asyncua import ua
from asyncua.client.client import Client
from asyncua.ua.attribute_ids import AttributeIds
from asyncua.ua.object_ids import ObjectIdNames, ObjectIds
from asyncua.ua.uaerrors import UaError

from protocols.config import OpcUaSourceConfig
from protocols.opcua_client import configure_client, default_client
from protocols.opcua_paths import Segment

__all__ = ["BrowseError", "BrowsedNode", "BrowseResult", "browse_server", "tree_lines", "toml_lines", "select"]

OBJECTS = ua.NodeId(ua.Int32(ObjectIds.ObjectsFolder))
_READ_BATCH = 300  # ReadValueIds per Read request (servers cap MaxNodesPerRead)
_VALUE_WIDTH = 60


class BrowseError(Exception):
    """The one line printed when a server cannot be browsed."""


@dataclass
class BrowsedNode:
    """One node met on the walk."""

    segments: tuple[tuple[int, str], ...]  # (namespace index, browse name) from below Objects down
    node_id: str
    node_class: str
    depth: int
    parent: int | None  # index of the parent in BrowseResult.nodes (None: a child of Objects)
    data_type: str = ""
    access: str = ""
    value: str = ""

    @property
    def name(self) -> str:
        return self.segments[-1][1]

    @property
    def is_variable(self) -> bool:
        return self.node_class == "Variable"

    def path(self, default_ns: int) -> str:
        """The browse path form: ``Objects/Plant/2:Other/...``, the default namespace unprefixed."""
        parts = [str(Segment(name, None if ns == default_ns else ns)) for ns, name in self.segments]
        return "/".join(["Objects", *parts])


@dataclass
class BrowseResult:
    endpoint: str
    namespaces: list[str]
    nodes: list[BrowsedNode] = field(default_factory=list)
    #: set when the node limit ended the walk: the last node listed, and how many were queued
    stopped_after: str | None = None
    unvisited: int = 0
    default_ns: int = 0

    @property
    def variables(self) -> list[BrowsedNode]:
        return [n for n in self.nodes if n.is_variable]


def _access(level: object) -> str:
    if not isinstance(level, int):
        return "?"
    read, write = bool(level & ua.AccessLevel.CurrentRead.mask), bool(level & ua.AccessLevel.CurrentWrite.mask)
    return {(True, True): "read/write", (True, False): "read", (False, True): "write", (False, False): "none"}[
        (read, write)
    ]


def _data_type(value: object) -> str:
    if not isinstance(value, ua.NodeId):
        return "?"
    if value.NamespaceIndex == 0 and isinstance(value.Identifier, int):
        return str(ObjectIdNames.get(value.Identifier, value.to_string()))
    return str(value.to_string())


def _shown_value(data: ua.DataValue) -> str:
    if data.StatusCode is not None and not data.StatusCode.is_good():
        return f"({data.StatusCode.name})"
    value = data.Value.Value if data.Value is not None else None
    text = repr(value)
    return text if len(text) <= _VALUE_WIDTH else text[: _VALUE_WIDTH - 3] + "..."


async def _read_details(client: Client, nodes: Sequence[BrowsedNode], ids: Sequence[ua.NodeId]) -> None:
    attributes = (AttributeIds.Value, AttributeIds.DataType, AttributeIds.AccessLevel)
    wanted = [(i, a) for i in range(len(nodes)) for a in attributes]
    for start in range(0, len(wanted), _READ_BATCH):
        batch = wanted[start : start + _READ_BATCH]
        params = ua.ReadParameters()
        for i, attribute in batch:
            rv = ua.ReadValueId()
            rv.NodeId = ids[i]
            rv.AttributeId = attribute
            params.NodesToRead.append(rv)
        results = await client.uaclient.read(params)
        for (i, attribute), data in zip(batch, results, strict=True):
            node = nodes[i]
            good = data.StatusCode is None or data.StatusCode.is_good()
            if attribute == AttributeIds.Value:
                node.value = _shown_value(data)
            elif attribute == AttributeIds.DataType:
                node.data_type = _data_type(data.Value.Value) if good and data.Value is not None else "?"
            else:
                node.access = _access(data.Value.Value) if good and data.Value is not None else "?"


async def _walk(client: Client, result: BrowseResult, depth: int, limit: int, standard_nodes: bool) -> None:
    """Depth first, pre-order: a node is listed when taken off the stack, its children pushed after."""
    seen: set[ua.NodeId] = {OBJECTS}
    stack: list[tuple[BrowsedNode | None, ua.NodeId]] = [(None, OBJECTS)]
    while stack:
        node, node_id = stack.pop()
        parent: int | None = None
        if node is not None:
            if len(result.nodes) >= limit:
                result.unvisited = len(stack) + 1
                return
            result.nodes.append(node)
            parent = len(result.nodes) - 1
        level = node.depth if node is not None else 0
        if level >= depth:
            continue
        found: list[tuple[BrowsedNode, ua.NodeId]] = []
        refs = await client.get_node(node_id).get_children_descriptions(refs=ObjectIds.HierarchicalReferences)
        for ref in refs:
            child = ref.NodeId
            if child in seen or (node is None and child.NamespaceIndex == 0 and not standard_nodes):
                continue
            if ref.NodeClass not in (ua.NodeClass.Object, ua.NodeClass.Variable):
                continue
            seen.add(child)
            above = node.segments if node is not None else ()
            segments = (*above, (ref.BrowseName.NamespaceIndex, ref.BrowseName.Name))
            found.append((BrowsedNode(segments, child.to_string(), ref.NodeClass.name, level + 1, parent), child))
        found.sort(key=lambda f: (f[0].name.lower(), f[0].node_id))
        variables = [(n, i) for n, i in found if n.is_variable]
        if variables:
            await _read_details(client, [n for n, _ in variables], [i for _, i in variables])
        stack += reversed(found)


def _last_listed(result: BrowseResult) -> str:
    return result.nodes[-1].path(result.default_ns) if result.nodes else "Objects"


async def browse_server(
    config: OpcUaSourceConfig, *, depth: int = 20, limit: int = 2000, standard_nodes: bool = False,
    namespace_uri: str | None = None,
) -> BrowseResult:
    """Walk the server at ``config.endpoint`` with the source's security and credentials."""
    if depth < 1:
        raise BrowseError(f"--depth {depth}: give 1 or more levels below Objects")
    if limit < 1:
        raise BrowseError(f"--limit {limit}: give 1 or more nodes")
    client = default_client(config)
    try:
        await configure_client(client, config)
    except (OSError, ValueError, TypeError) as exc:
        raise BrowseError(f"cannot set up security for {config.endpoint}: {exc}") from exc
    connected = False
    try:
        try:
            await asyncio.wait_for(client.connect(), timeout=config.request_timeout_s * 2 + 2)
            connected = True
        except (OSError, TimeoutError, UaError, ConnectionError) as exc:
            raise BrowseError(f"cannot connect to {config.endpoint}: {_why(exc)}") from exc
        try:
            namespaces = list(await client.get_namespace_array())
            result = BrowseResult(config.endpoint, namespaces)
            await _walk(client, result, depth, limit, standard_nodes)
        except (OSError, TimeoutError, UaError, ConnectionError) as exc:
            raise BrowseError(f"browsing {config.endpoint} failed: {_why(exc)}") from exc
        result.default_ns = _default_namespace(result, namespace_uri)
        if result.unvisited:
            result.stopped_after = _last_listed(result)
        return result
    finally:
        if connected:
            try:
                await client.disconnect()
            except (OSError, TimeoutError, UaError, ConnectionError) as exc:
                # the listing is complete; a failed goodbye changes nothing, but say so
                print(f"(disconnect from {config.endpoint} failed: {_why(exc)})")


def _why(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, TimeoutError):
        text = "no answer (timed out): is the endpoint right, and does the security policy match the server's?"
    return text.splitlines()[0] if text else type(exc).__name__


def _default_namespace(result: BrowseResult, namespace_uri: str | None) -> int:
    if namespace_uri is not None:
        if namespace_uri not in result.namespaces:
            raise BrowseError(
                f"namespace {namespace_uri!r} is not on the server; it has: {', '.join(result.namespaces)}"
            )
        return result.namespaces.index(namespace_uri)
    counts = Counter(ns for n in result.variables for ns, _ in n.segments if ns != 0)
    return counts.most_common(1)[0][0] if counts else 0


def select(result: BrowseResult, pattern: str | None) -> list[BrowsedNode]:
    """The nodes to show: all, or the variables matching ``pattern`` and the folders above them."""
    if pattern is None:
        return list(result.nodes)
    matched = {
        i for i, n in enumerate(result.nodes) if n.is_variable and _matches(n, pattern, result.default_ns)
    }
    keep = set(matched)
    for i in matched:
        p = result.nodes[i].parent
        while p is not None and p not in keep:
            keep.add(p)
            p = result.nodes[p].parent
    return [n for i, n in enumerate(result.nodes) if i in keep]


def _matches(node: BrowsedNode, pattern: str, default_ns: int) -> bool:
    if "/" in pattern:
        return fnmatch.fnmatchcase(node.path(default_ns), pattern)
    return fnmatch.fnmatchcase(node.name, pattern)


def tree_lines(result: BrowseResult, shown: Sequence[BrowsedNode]) -> list[str]:
    uri = result.namespaces[result.default_ns] if result.default_ns < len(result.namespaces) else "?"
    lines = [f"{result.endpoint}: namespaces " + ", ".join(f"{i}={u}" for i, u in enumerate(result.namespaces))]
    lines.append(f"paths below use namespace {result.default_ns} ({uri}) unprefixed: namespace_uri = {json.dumps(uri)}")
    lines.append("Objects")
    for node in shown:
        indent = "  " * node.depth
        if node.is_variable:
            lines.append(
                f"{indent}{node.path(result.default_ns)}  [{node.node_id}]  {node.data_type}  {node.access}"
                f"  = {node.value}"
            )
        else:
            lines.append(f"{indent}{node.path(result.default_ns)}/  [{node.node_id}]")
    variables = sum(1 for n in shown if n.is_variable)
    lines.append(f"{len(result.nodes)} nodes walked, {variables} variables shown")
    lines += stop_lines(result)
    return lines


def stop_lines(result: BrowseResult) -> list[str]:
    if not result.unvisited:
        return []
    return [
        f"stopped at the node limit after {result.stopped_after} ({result.unvisited} more nodes found "
        "and not walked): raise --limit, or lower --depth"
    ]


def _tag_name(node: BrowsedNode, taken: set[str]) -> str:
    base = "_".join(re.sub(r"[^A-Za-z0-9_.:-]+", "_", name).strip("_") or "x" for _, name in node.segments)
    base = base.lower()[:100] or "tag"
    name, n = base, 2
    while name in taken:
        name, n = f"{base}_{n}", n + 1
    taken.add(name)
    return name


def toml_lines(result: BrowseResult, shown: Sequence[BrowsedNode]) -> list[str]:
    """Tag entries (browse path form) for the variables shown, to paste into a source's ``tags``."""
    uri = result.namespaces[result.default_ns] if result.default_ns < len(result.namespaces) else ""
    lines = [
        f"# tags from {result.endpoint}; the source needs: endpoint = {json.dumps(result.endpoint)}",
        f"# namespace_uri = {json.dumps(uri)}  (path segments without an <index>: prefix are in it)",
        "tags = [",
    ]
    taken: set[str] = set()
    for node in shown:
        if not node.is_variable:
            continue
        entry: dict[str, Any] = {"name": _tag_name(node, taken), "path": node.path(result.default_ns)}
        body = ", ".join(f"{k} = {json.dumps(v, ensure_ascii=False)}" for k, v in entry.items())
        lines.append(f"  {{ {body} }},  # {node.data_type}, {node.access}, now {node.value}")
    lines.append("]")
    lines += [f"# {line}" for line in stop_lines(result)]
    return lines
