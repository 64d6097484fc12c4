"""Every OPC UA tag's node id for one connection: namespace URIs and browse paths resolved.

Run at every (re)connect, because both can change when a server restarts: a namespace URI
may get another index, and a server that numbers its nodes at start-up may give a node
another numeric id. Node ids are mapped through the server's namespace array; browse paths
go to the server in one TranslateBrowsePathsToNodeIds request (per :data:`MAX_PATHS_PER_REQUEST`).

A path that does not resolve is one tag with an error naming the first segment the server
could not find (found with a second request that translates each prefix of the path); the
source reports that tag BAD and the other tags keep flowing. A failure of the connection
itself (socket, timeout) is raised as :class:`~protocols.base.SourceUnavailable`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from asyncua import ua
from asyncua.client.client import Client
from asyncua.ua.object_ids import ObjectIds
from asyncua.ua.status_codes import StatusCodes
from asyncua.ua.uaerrors import UaError, UaStatusCodeError

from protocols.base import SourceUnavailable
from protocols.config import OpcUaSourceConfig, OpcUaTagConfig
from protocols.opcua_paths import STANDARD_FOLDERS, BrowsePath, Segment
from protocols.opcua_values import quality_of

__all__ = ["Resolved", "resolve_tags", "resolve_paths", "MAX_PATHS_PER_REQUEST"]

logger = logging.getLogger(__name__)

#: browse paths per TranslateBrowsePathsToNodeIds request (servers limit a request's size)
MAX_PATHS_PER_REQUEST = 200

#: ``RemainingPathIndex`` of a target the path fully resolved to (UInt32 max)
_COMPLETE = 0xFFFFFFFF

#: a translation status that means "some segment is not there"
_NOT_FOUND = (StatusCodes.BadNoMatch, StatusCodes.BadNodeIdUnknown)


@dataclass(frozen=True, slots=True)
class Resolved:
    """A tag's node for this connection, or why it has none."""

    tag: OpcUaTagConfig
    node_id: ua.NodeId | None
    error: str = ""

    @property
    def address(self) -> str:
        """The node id, with the path it was resolved from (for messages)."""
        if self.node_id is None:
            return self.tag.where
        node = self.node_id.to_string()
        return node if self.tag.path is None else f"{node} (path {self.tag.path})"

    @property
    def probe_address(self) -> str:
        """What ``sfsync edge probe`` prints: the node id, or the path and the node id it resolved to."""
        if self.tag.path is None:
            return self.address
        return f"{self.tag.path} -> {self.node_id.to_string() if self.node_id is not None else '(unresolved)'}"


async def resolve_tags(client: Client, config: OpcUaSourceConfig) -> list[Resolved]:
    """Every tag of ``config`` (in config order) with its node id on this connection."""
    try:
        namespaces = await client.get_namespace_array()
    except (OSError, TimeoutError, UaError) as exc:
        raise SourceUnavailable(f"reading the namespace array: {exc!r}") from exc
    out: dict[str, Resolved] = {}
    path_tags: list[OpcUaTagConfig] = []
    for tag in config.tags:
        if tag.path is not None:
            path_tags.append(tag)
        else:
            out[tag.name] = _resolve_node(config, tag, namespaces)
    if path_tags:
        paths = [tag.browse_path for tag in path_tags]
        found = await resolve_paths(client, [p for p in paths if p is not None], namespaces, config.namespace_uri)
        for tag, (node_id, error) in zip(path_tags, found, strict=True):
            out[tag.name] = Resolved(tag, node_id, error)
    return [out[tag.name] for tag in config.tags]


def _resolve_node(config: OpcUaSourceConfig, tag: OpcUaTagConfig, namespaces: list[str]) -> Resolved:
    ref = config.node_ref(tag)
    index = ref.namespace_index or 0
    if ref.namespace_uri is not None:
        if ref.namespace_uri not in namespaces:
            return Resolved(tag, None, f"namespace {ref.namespace_uri!r} is not on the server")
        index = namespaces.index(ref.namespace_uri)
    try:
        return Resolved(tag, ua.NodeId.from_string(f"ns={index};{ref.identifier}"))
    except (ValueError, UaError) as exc:
        return Resolved(tag, None, f"node {tag.node!r} is not a valid node id: {exc}")


# --------------------------------------------------------------------------- browse paths


async def resolve_paths(
    client: Client, paths: Sequence[BrowsePath], namespaces: list[str], default_uri: str | None
) -> list[tuple[ua.NodeId | None, str]]:
    """Each path's node id, or ``(None, why)``; unprefixed segments are in ``default_uri``."""
    out: list[tuple[ua.NodeId | None, str]] = [(None, "")] * len(paths)
    todo: list[tuple[int, ua.BrowsePath]] = []
    for i, path in enumerate(paths):
        request, error = _browse_path(path, len(path.segments), namespaces, default_uri)
        if request is None:
            out[i] = (None, error)
        else:
            todo.append((i, request))
    results = await _translate(client, [request for _, request in todo])
    missing: list[int] = []
    for (i, _), result in zip(todo, results, strict=True):
        if isinstance(result, str):
            out[i] = (None, f"path {paths[i]}: {result}")
            continue
        node_id, error = _target(result, namespaces)
        if node_id is None and result.StatusCode.value in _NOT_FOUND:
            missing.append(i)
        out[i] = (node_id, f"path {paths[i]}: {error}" if error else "")
    if missing:
        why = await _missing_segments(client, [paths[i] for i in missing], namespaces, default_uri)
        for i, error in zip(missing, why, strict=True):
            out[i] = (None, error)
    return out


def _browse_path(
    path: BrowsePath, depth: int, namespaces: list[str], default_uri: str | None
) -> tuple[ua.BrowsePath | None, str]:
    """The request for the first ``depth`` segments of ``path``, or why it cannot be made."""
    default_index = 0
    if default_uri is not None and any(s.namespace_index is None for s in path.segments[:depth]):
        if default_uri not in namespaces:
            return None, (
                f"path {path}: namespace {default_uri!r} (namespace_uri, for segments without "
                "'<index>:') is not on the server"
            )
        default_index = namespaces.index(default_uri)
    relative = ua.RelativePath()
    for segment in path.segments[:depth]:
        index = default_index if segment.namespace_index is None else segment.namespace_index
        if index >= len(namespaces):
            return None, (
                f"path {path}: segment {str(segment)!r}: the server has no namespace {index} "
                f"(it has {len(namespaces)}: 0..{len(namespaces) - 1})"
            )
        element = ua.RelativePathElement()  # forward along hierarchical references (and their subtypes)
        element.ReferenceTypeId = ua.NodeId(ua.Int32(ObjectIds.HierarchicalReferences))
        element.IsInverse = False  # type: ignore[assignment]  # asyncua types it as its own Boolean class
        element.IncludeSubtypes = True  # type: ignore[assignment]
        element.TargetName = ua.QualifiedName(segment.name, index)
        relative.Elements.append(element)
    request = ua.BrowsePath()
    request.StartingNode = ua.NodeId(ua.Int32(STANDARD_FOLDERS[path.folder]))
    request.RelativePath = relative
    return request, ""


async def _translate(client: Client, requests: list[ua.BrowsePath]) -> list[ua.BrowsePathResult | str]:
    """The server's answer per request; a refused request (a status) is that text for its paths."""
    out: list[ua.BrowsePathResult | str] = []
    for start in range(0, len(requests), MAX_PATHS_PER_REQUEST):
        chunk = requests[start : start + MAX_PATHS_PER_REQUEST]
        try:
            results = await client.uaclient.translate_browsepaths_to_nodeids(chunk)
        except UaStatusCodeError as exc:  # e.g. BadServiceUnsupported, BadTooManyOperations
            out += [f"translating the browse path: {quality_of(ua.StatusCode(exc.code))[1]}"] * len(chunk)
            continue
        except (OSError, TimeoutError, UaError) as exc:
            raise SourceUnavailable(f"translating browse paths: {exc!r}") from exc
        if len(results) != len(chunk):
            raise SourceUnavailable(f"translating browse paths: {len(results)} results for {len(chunk)} paths")
        out += results
    return out


def _target(result: ua.BrowsePathResult, namespaces: list[str]) -> tuple[ua.NodeId | None, str]:
    """The one local node a translated path leads to, or why there is none."""
    if not result.StatusCode.is_good():
        return None, f"not found ({quality_of(result.StatusCode)[1]})"
    targets = [t for t in result.Targets if t.RemainingPathIndex == _COMPLETE]
    if not targets:
        return None, "the server resolved it only partly (a node on another server?)"
    nodes: list[ua.NodeId] = []
    for t in targets:
        tid = t.TargetId  # an ExpandedNodeId on the wire; asyncua 2.1 decodes it as a plain NodeId
        if getattr(tid, "ServerIndex", 0):
            return None, f"it leads to a node on another server ({tid.to_string()})"
        index = tid.NamespaceIndex
        uri = getattr(tid, "NamespaceUri", None)
        if uri:
            if uri not in namespaces:
                return None, f"it leads to namespace {uri!r}, which is not on the server"
            index = namespaces.index(uri)
        node = ua.NodeId(tid.Identifier, index, tid.NodeIdType)
        if node not in nodes:
            nodes.append(node)
    if len(nodes) > 1:
        return None, (
            f"it matches {len(nodes)} nodes ({', '.join(n.to_string() for n in nodes)}): "
            "give the segments' namespaces ('<index>:Name') or use node"
        )
    return nodes[0], ""


async def _missing_segments(
    client: Client, paths: list[BrowsePath], namespaces: list[str], default_uri: str | None
) -> list[str]:
    """For paths that did not resolve: which segment the server could not find, and under what."""
    requests: list[ua.BrowsePath] = []
    spans: list[tuple[int, int]] = []  # each path's range in ``requests``: prefixes of 1..n-1 segments
    for path in paths:
        start = len(requests)
        for depth in range(1, len(path.segments)):
            request, _ = _browse_path(path, depth, namespaces, default_uri)
            assert request is not None  # the whole path's request could be made, so its prefixes can
            requests.append(request)
        spans.append((start, len(requests)))
    results = await _translate(client, requests)
    out = []
    for path, (start, end) in zip(paths, spans, strict=True):
        depth = len(path.segments)  # the last segment, unless a shorter prefix already fails
        refused = ""
        for n, result in enumerate(results[start:end], start=1):
            if isinstance(result, str):
                refused = result
                break
            if not result.StatusCode.is_good():
                depth = n
                break
        if refused:
            out.append(f"path {path}: not found; finding the missing segment: {refused}")
            continue
        segment = path.segments[depth - 1]
        looked_up = _segment_text(segment, namespaces, default_uri)
        out.append(f"path {path}: {looked_up} not found under {path.prefix(depth - 1)}")
    return out


def _segment_text(segment: Segment, namespaces: list[str], default_uri: str | None) -> str:
    """``segment 'Press9' (namespace 2, urn:press:plc)``: where the server looked for it."""
    if segment.namespace_index is not None:
        index = segment.namespace_index
    else:
        index = namespaces.index(default_uri) if default_uri is not None else 0
    return f"segment {str(segment)!r} (namespace {index}, {namespaces[index]})"
