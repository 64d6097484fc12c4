"""OPC UA browse paths as a plant engineer sees them in a client (pure parsing, no I/O).

A path names a node by the browse names from a standard folder down::

    Objects/Plant/Line1/Press7/Counters/Good
    Objects/2:Plant/Line1/Press7/Counters/Good     # one segment with a namespace index
    Root/Objects/Plant/...                          # a leading Root is allowed (UaExpert shows it)

- The first segment is a standard folder of namespace 0: ``Objects``, ``Types`` or ``Views``
  (also written ``0:Objects``); resolution starts there.
- Every other segment is a browse name, optionally prefixed ``<index>:`` with a namespace
  index. A segment without a prefix is looked up in the source's ``namespace_uri`` (namespace 0
  when that is unset), whose index is taken from the server at every connect.
- ``&`` escapes the next character, as in OPC UA's relative path text format: ``&/`` is a ``/``
  inside a name, ``&:`` a ``:`` (``Ratio 1&:2``), ``&&`` an ``&``. The text before a segment's
  first unescaped ``:`` must be a namespace index.

Resolution (TranslateBrowsePathsToNodeIds, at every connect) is in :mod:`protocols.opcua_resolve`.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Segment", "BrowsePath", "parse_path", "STANDARD_FOLDERS", "MAX_NAMESPACE_INDEX"]

#: the standard folders below Root a path may start at, with their numeric node ids (namespace 0)
STANDARD_FOLDERS: dict[str, int] = {"Objects": 85, "Types": 86, "Views": 87}
#: a namespace index is a UInt16
MAX_NAMESPACE_INDEX = 65535
ESCAPE = "&"


@dataclass(frozen=True, slots=True)
class Segment:
    """One browse name of a path: its name, and its namespace index when the path gives one."""

    name: str
    #: ``None``: the source's namespace (``namespace_uri``, else 0)
    namespace_index: int | None = None

    def __str__(self) -> str:
        name = "".join(ESCAPE + c if c in "/:&" else c for c in self.name)
        return name if self.namespace_index is None else f"{self.namespace_index}:{name}"


@dataclass(frozen=True, slots=True)
class BrowsePath:
    """A parsed path: the standard folder it starts at and the segments below it."""

    folder: str
    segments: tuple[Segment, ...]

    def __str__(self) -> str:
        return "/".join([self.folder, *map(str, self.segments)])

    def prefix(self, n: int) -> str:
        """The path down to (and including) its ``n``-th segment; the folder alone for 0."""
        return "/".join([self.folder, *map(str, self.segments[:n])])


def parse_path(text: str) -> BrowsePath:
    """Parse ``Objects/Plant/2:Line1/...``; ``ValueError`` says what is wrong and where."""
    if not text.strip().strip("/"):
        raise ValueError(f"path {text!r} is empty: expected e.g. 'Objects/Plant/Line1/Press7/Counters/Good'")
    raw = _split(text)
    segments = [_segment(part, text) for part in raw]
    if segments and segments[0].name == "Root" and segments[0].namespace_index in (None, 0):
        segments = segments[1:]
    if not segments:
        raise ValueError(f"path {text!r} is empty: expected e.g. 'Objects/Plant/Line1/Press7/Counters/Good'")
    first = segments[0]
    if first.name in STANDARD_FOLDERS and first.namespace_index not in (None, 0):
        raise ValueError(f"path {text!r}: the {first.name} folder is in namespace 0, not {first.namespace_index}")
    if first.name not in STANDARD_FOLDERS:
        raise ValueError(
            f"path {text!r} must start at a standard folder ({', '.join(STANDARD_FOLDERS)}), "
            f"not {str(first)!r}: e.g. 'Objects/{first}/...'"
        )
    if len(segments) == 1:
        raise ValueError(f"path {text!r} names the {first.name} folder itself, not a node below it")
    return BrowsePath(first.name, tuple(segments[1:]))


def _split(text: str) -> list[str]:
    """The path's segments, still escaped; a single leading ``/`` is allowed."""
    body = text.strip()
    if body.startswith("/"):
        body = body[1:]
    parts: list[str] = []
    current: list[str] = []
    escaped = False
    for c in body:
        if escaped:
            current.append(ESCAPE + c)
            escaped = False
        elif c == ESCAPE:
            escaped = True
        elif c == "/":
            parts.append("".join(current))
            current = []
        else:
            current.append(c)
    if escaped:
        raise ValueError(f"path {text!r} ends with a lone {ESCAPE!r} (write '&&' for an '&' in a name)")
    parts.append("".join(current))
    for i, part in enumerate(parts):
        if not part.strip():
            where = "at its end" if i == len(parts) - 1 and i else f"at segment {i + 1}"
            raise ValueError(f"path {text!r} has an empty segment {where}")
    return parts


def _segment(part: str, text: str) -> Segment:
    """``2:Plant`` -> Segment('Plant', 2); ``Ratio 1&:2`` -> Segment('Ratio 1:2')."""
    prefix, name, colon = "", [], False
    i = 0
    while i < len(part):
        c = part[i]
        if c == ESCAPE:  # _split kept escapes as pairs
            name.append(part[i + 1])
            i += 2
            continue
        if c == ":" and not colon:
            colon = True
            prefix, name = "".join(name), []
        else:
            name.append(c)
        i += 1
    if not colon:
        return Segment("".join(name))
    if not prefix.isdigit() or not prefix.isascii():
        raise ValueError(
            f"path {text!r}: segment {part!r} has a bad namespace prefix {prefix!r}: expected "
            f"'<index>:<name>' with a number, e.g. '2:Plant' (write '&:' for a ':' inside a name)"
        )
    index = int(prefix)
    if index > MAX_NAMESPACE_INDEX:
        raise ValueError(f"path {text!r}: segment {part!r}: namespace index {index} is above {MAX_NAMESPACE_INDEX}")
    if not name:
        raise ValueError(f"path {text!r}: segment {part!r} has a namespace index but no name")
    return Segment("".join(name), index)
