"""OPC UA adapter: one asyncua server with a folder tree per machine (see ``layout``).

Every write carries the virtual time of the change as ``SourceTimestamp``. Values changed by
one event are marked dirty and written by :meth:`OpcUaSimServer.flush` in a fixed order
(counters, then downtime reason before state code), so a subscriber sees a state change with
its reason already set. ``init()`` + ``start()`` takes 1.5-2.7 s and blocks the loop
(PITFALLS.md); a restart builds a new server (new start time, like a rebooted PLC).

Every write's status is checked: ``Server.write_attribute_value`` drops the StatusCode the
address space returns (a refused write, e.g. ``BadTypeMismatch``, is silent there), so the
writes go to the address space directly. A failed write is counted in ``write_failures``
(per leaf in ``failed_leaves``, shown on the control port's ``/status``) and logged at
WARNING once per machine, leaf and status, then again every ``LOG_EVERY`` failures.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from asyncua import ua
from asyncua.common.node import Node
from asyncua.server.server import Server
from asyncua.ua.attribute_ids import AttributeIds
from asyncua.ua.status_codes import StatusCodes

from device_sim.config import ResolvedMachine, SimSettings
from device_sim.layout import MachineView, node_id
from device_sim.model import SimEvent

__all__ = ["OpcUaSimServer", "leaves_for"]

log = logging.getLogger(__name__)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: a write failure that keeps recurring is logged again after this many failures of its kind
LOG_EVERY = 1000
BAD_STATUS: int = StatusCodes.BadCommunicationError


def _nid(text: str, idx: int) -> ua.NodeId:
    return ua.NodeId(text, idx)  # type: ignore[arg-type]  # asyncua's stubs want its own int/str aliases


def _qn(name: str, idx: int) -> ua.QualifiedName:
    return ua.QualifiedName(name, idx)


def _data_value(value: object, vtype: ua.VariantType, status: ua.StatusCode, source: datetime) -> ua.DataValue:
    now = datetime.now(UTC)
    return ua.DataValue(
        ua.Variant(value, vtype), StatusCode=status, SourceTimestamp=source, ServerTimestamp=now  # type: ignore[arg-type]
    )


def _scrap_leaf(reason: str) -> str:
    return f"Counters.Scrap_{reason}"


def leaves_for(ev: SimEvent) -> tuple[str, ...]:
    """The variables one model event changes."""
    if ev.kind == "count":
        return ("Counters.Good", "Status.CycleTime")
    if ev.kind == "scrap" and ev.reason is not None:
        return ("Counters.Scrap", _scrap_leaf(ev.reason), "Status.ScrapReason", "Status.CycleTime")
    if ev.kind == "state":
        return ("Status.DowntimeReason", "Status.State", "Status.Running")
    return ("Counters.Good", "Counters.Scrap", "*scrap")


class OpcUaSimServer:
    """Serves every OPC UA machine of the plant; writes come from the plant's publisher."""

    def __init__(self, settings: SimSettings, machines: list[ResolvedMachine]) -> None:
        self.settings = settings
        self.machines = [m for m in machines if m.opcua]
        self.host = settings.opcua.host
        self.port = settings.opcua.port
        self.ns_index = 0
        self._server: Server | None = None
        self._order: list[str] = (
            ["Counters.Good", "Counters.Scrap"]
            + [_scrap_leaf(r) for r in settings.scrap_reason_names]
            + ["Status.ScrapReason", "Status.CycleTime", "Status.DowntimeReason", "Status.State", "Status.Running"]
        )
        self._dirty: dict[int, set[str]] = {}
        self._nids: dict[tuple[int, str], ua.NodeId] = {}
        self.writes = 0
        self.write_failures = 0
        #: failures per ``"<machine>/<leaf>: <status>"``
        self.failed_leaves: dict[str, int] = {}

    @property
    def endpoint(self) -> str:
        return f"opc.tcp://{self.host}:{self.port}{self.settings.opcua.path}"

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def leaves(self) -> list[str]:
        """Every variable of a machine, in write order."""
        return list(self._order)

    def _vtype(self, m: ResolvedMachine) -> ua.VariantType:
        return ua.VariantType.UInt16 if m.spec.counter_bits == 16 else ua.VariantType.UInt32

    async def start(self, views: dict[int, MachineView]) -> None:
        """Build the address space with the views' current values and listen."""
        if self._server is not None:
            return
        cfg = self.settings.opcua
        server = Server()
        await server.init()
        server.set_endpoint(self.endpoint)
        server.set_server_name(cfg.server_name)
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        idx = await server.register_namespace(cfg.namespace)
        self.ns_index = idx
        root = await server.nodes.objects.add_folder(_nid(cfg.root, idx), _qn(cfg.root, idx))
        lines: dict[str, Node] = {}
        for m in self.machines:
            if m.line not in lines:
                lines[m.line] = await root.add_folder(_nid(f"{cfg.root}.{m.line}", idx), _qn(m.line, idx))
            line = lines[m.line]
            mnode = await line.add_object(_nid(f"{cfg.root}.{m.line}.{m.id}", idx), _qn(m.id, idx))
            for folder_name in ("Counters", "Status"):
                folder_id = f"{cfg.root}.{m.line}.{m.id}.{folder_name}"
                folder = await mnode.add_folder(_nid(folder_id, idx), _qn(folder_name, idx))
                for leaf in self._order:
                    if not leaf.startswith(folder_name + "."):
                        continue
                    name = leaf.split(".", 1)[1]
                    value, vtype = self._value(views[m.index], leaf)
                    nid = _nid(node_id(self.settings, m, folder_name, name), idx)
                    self._nids[(m.index, leaf)] = nid
                    await folder.add_variable(nid, _qn(name, idx), ua.Variant(value, vtype))
        await server.start()
        self.port = server.bserver.port if server.bserver is not None else self.port
        self._server = server
        for m in self.machines:
            await self.write(views[m.index], self._order)
        log.info("OPC UA server listening on %s (%s machines)", self.endpoint, len(self.machines))

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            await server.stop()
            log.info("OPC UA server on %s stopped", self.endpoint)

    def drop_connections(self) -> int:
        if self._server is None:
            return 0
        transports = list(self._server.iserver.asyncio_transports)
        for tr in transports:
            tr.close()
        log.info("OPC UA: dropped %s client connection(s)", len(transports))
        return len(transports)

    # ------------------------------------------------------------------ publishing

    def mark(self, ev: SimEvent) -> None:
        leaves = leaves_for(ev)
        dirty = self._dirty.setdefault(ev.index, set())
        if "*scrap" in leaves:
            dirty.update(_scrap_leaf(r) for r in self.settings.scrap_reason_names)
            leaves = leaves[:-1]
        dirty.update(leaves)

    def mark_all(self, index: int) -> None:
        self._dirty.setdefault(index, set()).update(self._order)

    async def flush(self, view: MachineView, bad: bool = False) -> None:
        dirty = self._dirty.pop(view.machine.index, None)
        if dirty:
            await self.write(view, [leaf for leaf in self._order if leaf in dirty], bad)

    def dirty_indexes(self) -> list[int]:
        return [i for i, d in self._dirty.items() if d]

    async def write(self, view: MachineView, leaves: Iterable[str], bad: bool = False) -> None:
        """Write ``leaves`` of one machine with the view's values and change time."""
        if self._server is None or not view.machine.opcua:
            return
        source_ts = _EPOCH + timedelta(milliseconds=view.changed_ms)
        status = ua.StatusCode(BAD_STATUS) if bad else ua.StatusCode()  # type: ignore[arg-type]
        index = view.machine.index
        aspace = self._server.iserver.aspace
        for leaf in leaves:
            value, vtype = self._value(view, leaf)
            dv = _data_value(value, vtype, status, source_ts)
            try:
                result = await aspace.write_attribute_value(self._nids[(index, leaf)], AttributeIds.Value, dv)
            except Exception as exc:  # noqa: BLE001 - asyncua internals: any failure is a lost write, counted
                self._write_failed(view, leaf, value, repr(exc))
                continue
            self.writes += 1
            if not result.is_good():
                self._write_failed(view, leaf, value, result.name or f"0x{result.value:08X}")

    def _write_failed(self, view: MachineView, leaf: str, value: object, why: str) -> None:
        self.write_failures += 1
        key = f"{view.machine.id}/{leaf}: {why}"
        n = self.failed_leaves[key] = self.failed_leaves.get(key, 0) + 1
        if n == 1 or n % LOG_EVERY == 0:
            log.warning(
                "OPC UA write of %s.%s = %r failed: %s (%s failure(s) of this kind, %s writes failed in all)",
                view.machine.id, leaf, value, why, n, self.write_failures,
            )

    def _value(self, view: MachineView, leaf: str) -> tuple[object, ua.VariantType]:
        u16 = ua.VariantType.UInt16
        counter = self._vtype(view.machine)
        if leaf == "Counters.Good":
            return view.good, counter
        if leaf == "Counters.Scrap":
            return view.scrap_total, counter
        if leaf.startswith("Counters.Scrap_"):
            return view.scrap.get(leaf[len("Counters.Scrap_"):], 0), counter
        if leaf == "Status.State":
            return view.state_code, u16
        if leaf == "Status.DowntimeReason":
            return view.down_reason, u16
        if leaf == "Status.ScrapReason":
            return view.scrap_reason, u16
        if leaf == "Status.Running":
            return view.running, ua.VariantType.Boolean
        if leaf == "Status.CycleTime":
            return view.cycle_ms / 1000.0, ua.VariantType.Double
        raise KeyError(leaf)
