"""Browse path resolution against a fake server: answers a real server seldom gives.

The ordinary cases (found, missing segment, renumbered after a restart) run against a real
asyncua server in tests/integration/test_protocols_opcua_paths.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from asyncua import ua
from asyncua.ua.status_codes import StatusCodes
from asyncua.ua.uaerrors import UaStatusCodeError

from protocols.base import SourceUnavailable
from protocols.config import OpcUaSourceConfig
from protocols.opcua_resolve import MAX_PATHS_PER_REQUEST, resolve_tags

NAMESPACES = ["http://opcfoundation.org/UA/", "urn:server", "urn:press:plc"]


class FakeUaClient:
    """Answers TranslateBrowsePathsToNodeIds from a function of the requested browse names."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.requests: list[list[ua.BrowsePath]] = []

    async def translate_browsepaths_to_nodeids(self, paths: list[ua.BrowsePath]) -> list[ua.BrowsePathResult]:
        self.requests.append(paths)
        return [self.answer([(e.TargetName.NamespaceIndex, e.TargetName.Name) for e in p.RelativePath.Elements])
                for p in paths]


class FakeClient:
    def __init__(self, answer: Any) -> None:
        self.uaclient = FakeUaClient(answer)

    async def get_namespace_array(self) -> list[str]:
        return NAMESPACES


def result(*targets: ua.NodeId, status: int = StatusCodes.Good) -> ua.BrowsePathResult:
    out = ua.BrowsePathResult()
    out.StatusCode = ua.StatusCode(status)  # type: ignore[arg-type]
    for node in targets:
        target = ua.BrowsePathTarget()
        target.TargetId = node  # type: ignore[assignment]
        target.RemainingPathIndex = 0xFFFFFFFF  # type: ignore[assignment]
        out.Targets.append(target)
    return out


def config(*paths: str) -> OpcUaSourceConfig:
    return OpcUaSourceConfig.model_validate(
        {
            "name": "press-1",
            "endpoint": "opc.tcp://h:4840",
            "namespace_uri": "urn:press:plc",
            "tags": [{"name": f"t{i}", "path": p} for i, p in enumerate(paths)],
        }
    )


async def test_segments_are_looked_up_in_namespace_uri_unless_prefixed() -> None:
    seen: list[list[tuple[int, str]]] = []

    def answer(names: list[tuple[int, str]]) -> ua.BrowsePathResult:
        seen.append(names)
        return result(ua.NodeId(ua.Int32(6), 2))  # type: ignore[arg-type]

    client = FakeClient(answer)
    [r] = await resolve_tags(client, config("Objects/Plant/1:Line1/0:Good"))  # type: ignore[arg-type]
    assert r.node_id == ua.NodeId(ua.Int32(6), 2) and not r.error  # type: ignore[arg-type]
    assert seen == [[(2, "Plant"), (1, "Line1"), (0, "Good")]]
    [request] = client.uaclient.requests[0]
    assert request.StartingNode == ua.NodeId(ua.Int32(85))  # the Objects folder
    assert all(not e.IsInverse and e.IncludeSubtypes for e in request.RelativePath.Elements)
    assert request.RelativePath.Elements[0].ReferenceTypeId == ua.NodeId(ua.Int32(33))  # HierarchicalReferences


async def test_a_path_matching_two_nodes_is_refused() -> None:
    client = FakeClient(lambda names: result(ua.NodeId(ua.Int32(6), 2), ua.NodeId(ua.Int32(7), 2)))  # type: ignore[arg-type]
    [r] = await resolve_tags(client, config("Objects/Plant/Good"))  # type: ignore[arg-type]
    assert r.node_id is None and "matches 2 nodes (ns=2;i=6, ns=2;i=7)" in r.error


async def test_a_target_on_another_server_is_refused() -> None:
    remote = ua.ExpandedNodeId(ua.Int32(6), 2)  # type: ignore[arg-type]
    remote.ServerIndex = 1  # type: ignore[misc]
    client = FakeClient(lambda names: result(remote))
    [r] = await resolve_tags(client, config("Objects/Plant/Good"))  # type: ignore[arg-type]
    assert r.node_id is None and "another server" in r.error


async def test_a_target_given_by_namespace_uri_is_mapped_to_its_index() -> None:
    target = ua.ExpandedNodeId(ua.Int32(6), 0, NamespaceUri="urn:press:plc")  # type: ignore[arg-type, call-arg]
    client = FakeClient(lambda names: result(target))
    [r] = await resolve_tags(client, config("Objects/Plant/Good"))  # type: ignore[arg-type]
    assert r.node_id == ua.NodeId(ua.Int32(6), 2)  # type: ignore[arg-type]


async def test_a_refused_translate_service_makes_path_tags_bad() -> None:
    class Refusing(FakeUaClient):
        async def translate_browsepaths_to_nodeids(self, paths: list[ua.BrowsePath]) -> list[ua.BrowsePathResult]:
            raise UaStatusCodeError(StatusCodes.BadServiceUnsupported)

    client = FakeClient(None)
    client.uaclient = Refusing(None)
    rs = await resolve_tags(client, config("Objects/Plant/Good", "Objects/Plant/Scrap"))  # type: ignore[arg-type]
    assert [r.node_id for r in rs] == [None, None]
    assert all("BadServiceUnsupported" in r.error and "Objects/Plant/" in r.error for r in rs)


async def test_a_lost_connection_is_source_unavailable() -> None:
    class Broken(FakeUaClient):
        async def translate_browsepaths_to_nodeids(self, paths: list[ua.BrowsePath]) -> list[ua.BrowsePathResult]:
            raise ConnectionError("Connection is closed")

    client = FakeClient(None)
    client.uaclient = Broken(None)
    with pytest.raises(SourceUnavailable, match="translating browse paths"):
        await resolve_tags(client, config("Objects/Plant/Good"))  # type: ignore[arg-type]


async def test_many_paths_go_in_bounded_requests_and_the_missing_segment_is_named() -> None:
    n = MAX_PATHS_PER_REQUEST + 5

    def answer(names: list[tuple[int, str]]) -> ua.BrowsePathResult:
        if names[-1][1] == "Gone" or any(name == "Gone" for _, name in names):
            return result(status=StatusCodes.BadNoMatch)
        return result(ua.NodeId(ua.Int32(1000 + len(names)), 2))  # type: ignore[arg-type]

    paths = [f"Objects/Plant/M{i}/Good" for i in range(n)] + ["Objects/Plant/Gone/Good"]
    client = FakeClient(answer)
    rs = await resolve_tags(client, config(*paths))  # type: ignore[arg-type]
    assert all(r.node_id is not None for r in rs[:n])
    assert rs[n].node_id is None
    assert rs[n].error == (
        "path Objects/Plant/Gone/Good: segment 'Gone' (namespace 2, urn:press:plc) not found under Objects/Plant"
    )
    sizes = [len(req) for req in client.uaclient.requests]
    assert max(sizes) <= MAX_PATHS_PER_REQUEST and sizes[:2] == [MAX_PATHS_PER_REQUEST, n + 1 - MAX_PATHS_PER_REQUEST]
    assert sizes[2:] == [2]  # then the prefixes of the one missing path: Plant, Plant/Gone
