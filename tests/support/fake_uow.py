"""A unit of work without a database, for handler tests.

Small ``Fake*`` repositories implement the interfaces of
:mod:`central.service_layer.unit_of_work` over lists and dicts; the clock is fixed; ``commits``
counts ``commit()`` calls. ``session`` refuses: a handler path that still reaches into costing
through a SQLAlchemy session cannot pass silently on a fake.
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.orm import Session

from central.adapters.db.models_access import ApiTokenRow
from central.adapters.db.models_costing import DispatchRow, EventPostingRow, OpRecordRow, PeriodRow, WorkOrderRow
from central.adapters.db.models_governance import ApprovalRow
from central.adapters.db.models_ingest import AlertRow, EdgeRow
from central.adapters.db.models_purchasing import (
    PurchaseOrderLineRow,
    PurchaseOrderReceiptRow,
    PurchaseOrderRow,
    WebhookDeliveryRow,
    WebhookRow,
)
from central.adapters.db.models_recommendations import AnomalyPointRow, RecommendationRow
from central.domain.master_data import MasterData
from central.domain.master_snapshot import Snapshot
from central.domain.posting_rules import DEFAULT_RULES
from central.domain.selling_prices import SellingPrice
from central.domain.stored_events import EVENT_FIELDS, OpenGap, RejectedEvent, StoredEvent, StreamState
from central.service_layer.access import Principal
from central.service_layer.unit_of_work import AbstractUnitOfWork, Actor, MasterChange

NOW = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)
"""The fake unit of work's fixed clock."""


class FakeWorkOrders:
    def __init__(self, *orders: WorkOrderRow) -> None:
        self.rows = {o.id: o for o in orders}

    def get(self, order_id: str, *, lock: bool = True) -> WorkOrderRow | None:
        return self.rows.get(order_id)

    def add(self, order: WorkOrderRow) -> None:
        assert order.id not in self.rows, f"duplicate work order {order.id}"
        self.rows[order.id] = order


class FakeDispatches:
    def __init__(self, *dispatches: DispatchRow) -> None:
        self.rows = list(dispatches)

    def running_on(self, machine: str, at: datetime) -> DispatchRow | None:
        return next((d for d in self.rows if d.machine == machine and (d.end is None or d.end > at)), None)

    def open_for(self, order_id: str) -> DispatchRow | None:
        return next((d for d in self.rows if d.work_order == order_id and d.end is None), None)

    def add(self, dispatch: DispatchRow) -> None:
        self.rows.append(dispatch)


class FakeEventPostings:
    def __init__(self, *rows: EventPostingRow) -> None:
        self.rows = {r.event_id: r for r in rows}

    def get(self, event_id: int) -> EventPostingRow | None:
        return self.rows.get(event_id)

    def unassigned_since(self, machine: str, since: datetime) -> list[EventPostingRow]:
        return sorted((r for r in self.rows.values()
                       if r.machine == machine and r.status == "unassigned" and r.ts >= since), key=lambda r: r.ts)

    def posted_since(self, order_id: str, machine: str, since: datetime) -> list[EventPostingRow]:
        return [r for r in self.rows.values()
                if r.work_order == order_id and r.machine == machine and r.status == "posted" and r.ts >= since]


class FakeRecords:
    def __init__(self) -> None:
        self.rows: list[OpRecordRow] = []

    def add(self, record: OpRecordRow) -> None:
        record.id = len(self.rows) + 1
        self.rows.append(record)


class FakePeriods:
    def __init__(self, *periods: PeriodRow) -> None:
        self.rows = {p.id: p for p in periods}

    def get(self, period_id: str, *, lock: bool = False) -> PeriodRow | None:
        return self.rows.get(period_id)

    def covering(self, entity: str | None, day: date) -> PeriodRow | None:
        return next((p for p in sorted(self.rows.values(), key=lambda p: p.start)
                     if p.start <= day <= p.end and p.entity in (None, entity)), None)

    def add(self, period: PeriodRow) -> None:
        assert period.id not in self.rows, f"duplicate period {period.id}"
        self.rows[period.id] = period

    def add_if_absent(self, period: PeriodRow) -> PeriodRow:
        return self.rows.setdefault(period.id, period)


class FakeMasterData:
    """The snapshot is fixed (built from ``master``); ``records`` are the stored JSON records a
    load merges into; ``saved`` and ``versions`` are what loads wrote."""

    def __init__(self, master: MasterData, periods: FakePeriods | None = None) -> None:
        self._snapshot = Snapshot(1, replace(master, periods=()), DEFAULT_RULES, {})
        self._periods = periods if periods is not None else FakePeriods()
        self.records: dict[str, dict[str, dict[str, Any]]] = {}
        self.entities_with_entries: set[str] = set()
        self.saved: list[tuple[list[MasterChange], list[Mapping[str, Any]], list[Mapping[str, Any]]]] = []
        self.versions: list[dict[str, Any]] = []

    def snapshot(self) -> Snapshot:
        return self._snapshot

    def stored(self) -> dict[str, dict[str, dict[str, Any]]]:
        return {s: dict(r) for s, r in self.records.items()}

    def period_records(self) -> list[dict[str, Any]]:
        return [{"id": p.id, "start": p.start.isoformat(), "end": p.end.isoformat(), "entity": p.entity,
                 "status": p.status} for p in sorted(self._periods.rows.values(), key=lambda p: p.start)]

    def entity_has_entries(self, entity: str) -> bool:
        return entity in self.entities_with_entries

    def current_version(self) -> int:
        return len(self.versions)

    def save(self, changes: Sequence[MasterChange], periods: Sequence[Mapping[str, Any]],
             machines: Sequence[Mapping[str, Any]], *, user: str, now: datetime) -> None:
        self.saved.append((list(changes), list(periods), list(machines)))
        for section, key, record, _created in changes:
            self.records.setdefault(section, {})[key] = record
        for p in periods:
            row = self._periods.rows.get(p["id"])
            if row is None:
                self._periods.add(PeriodRow(id=p["id"], entity=p["entity"], start=p["start"], end=p["end"],
                                            status="open"))
            else:
                row.start, row.end, row.entity = p["start"], p["end"], p["entity"]

    def add_version(self, *, user: str, source: str, sections: dict[str, dict[str, int]], now: datetime) -> int:
        self.versions.append({"user": user, "source": source, "sections": sections, "created": now})
        return len(self.versions)


class FakeApprovals:
    def __init__(self) -> None:
        self.rows: dict[int, ApprovalRow] = {}

    def get(self, approval_id: int, *, lock: bool = False) -> ApprovalRow | None:
        return self.rows.get(approval_id)

    def pending(self, kind: str, digest: str) -> ApprovalRow | None:
        return next((r for _, r in sorted(self.rows.items())
                     if r.kind == kind and r.payload_digest == digest and r.status == "pending"), None)

    def add(self, row: ApprovalRow) -> None:
        row.id = len(self.rows) + 1
        self.rows[row.id] = row


class FakeTokens:
    def __init__(self) -> None:
        self.rows: dict[str, ApiTokenRow] = {}

    def get(self, token_id: str, *, lock: bool = False) -> ApiTokenRow | None:
        return self.rows.get(token_id)

    def add(self, row: ApiTokenRow) -> None:
        assert row.id not in self.rows, f"duplicate token id {row.id}"
        self.rows[row.id] = row


class FakeAlerts:
    """Alerts by id; ``machine_plants`` is the plant of each known machine."""

    def __init__(self) -> None:
        self.rows: dict[int, AlertRow] = {}
        self.machine_plants: dict[str, str] = {}

    def get(self, alert_id: int, *, lock: bool = False) -> AlertRow | None:
        return self.rows.get(alert_id)

    def open_with_key(self, key: str) -> AlertRow | None:
        return next((r for _, r in sorted(self.rows.items())
                     if r.key == key and r.acked_at is None and r.status == "open"), None)

    def active_with_key(self, key: str) -> AlertRow | None:
        return next((r for _, r in sorted(self.rows.items())
                     if r.key == key and r.status in ("open", "acknowledged")), None)

    def any_with_key(self, key: str) -> bool:
        return any(r.key == key for r in self.rows.values())

    def add(self, row: AlertRow) -> None:
        row.id = len(self.rows) + 1
        self.rows[row.id] = row

    def seed(self, row: AlertRow) -> AlertRow:
        """Test setup: :meth:`add`, returning the row."""
        self.add(row)
        return row

    def plant_of_machine(self, machine: str) -> str | None:
        return self.machine_plants.get(machine)


class FakeRecommendations:
    def __init__(self) -> None:
        self.rows: dict[int, RecommendationRow] = {}
        self.points: list[AnomalyPointRow] = []

    def get(self, rec_id: int, *, lock: bool = False) -> RecommendationRow | None:
        return self.rows.get(rec_id)

    def flagged_points(self, rec_id: int) -> list[AnomalyPointRow]:
        return [p for p in self.points if p.recommendation_id == rec_id and p.status == "flagged"]


class FakeWebhooks:
    def __init__(self) -> None:
        self.rows: dict[int, WebhookRow] = {}
        self.deliveries: list[WebhookDeliveryRow] = []

    def get(self, webhook_id: int) -> WebhookRow | None:
        return self.rows.get(webhook_id)

    def add(self, row: WebhookRow) -> None:
        row.id = len(self.rows) + 1
        self.rows[row.id] = row

    def active(self) -> list[WebhookRow]:
        return [r for _, r in sorted(self.rows.items()) if r.active]

    def add_delivery(self, row: WebhookDeliveryRow) -> None:
        self.deliveries.append(row)


class FakePurchaseOrders:
    def __init__(self) -> None:
        self.orders: dict[str, PurchaseOrderRow] = {}
        self.lines_: dict[int, PurchaseOrderLineRow] = {}
        self.receipts_: list[PurchaseOrderReceiptRow] = []

    def get(self, po_id: str) -> PurchaseOrderRow | None:
        return self.orders.get(po_id)

    def add(self, po: PurchaseOrderRow, lines: Sequence[PurchaseOrderLineRow]) -> None:
        assert po.id not in self.orders, f"duplicate purchase order {po.id}"
        self.orders[po.id] = po
        for line in lines:
            line.id = len(self.lines_) + 1
            self.lines_[line.id] = line

    def lines(self, po_id: str) -> list[PurchaseOrderLineRow]:
        return sorted((ln for ln in self.lines_.values() if ln.purchase_order == po_id), key=lambda ln: ln.line_no)

    def line(self, line_id: int, *, lock: bool = False) -> PurchaseOrderLineRow | None:
        return self.lines_.get(line_id)

    def receipts(self, line_ids: Sequence[int]) -> list[PurchaseOrderReceiptRow]:
        return sorted((r for r in self.receipts_ if r.line_id in line_ids), key=lambda r: r.record_id)

    def add_receipt(self, row: PurchaseOrderReceiptRow) -> None:
        self.receipts_.append(row)


class FakeSellingPrices:
    """Prices by (product, valid_from); ``stamps`` the (version, user, now) each was saved with."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, date], SellingPrice] = {}
        self.stamps: dict[tuple[str, date], tuple[int, str, datetime]] = {}

    def all(self, product: str | None = None) -> list[SellingPrice]:
        return [p for _, p in sorted(self.rows.items()) if product is None or p.product == product]

    def save(self, price: SellingPrice, *, version: int, user: str, now: datetime) -> None:
        self.rows[(price.product, price.valid_from)] = price
        self.stamps[(price.product, price.valid_from)] = (version, user, now)


class FakeEdges:
    def __init__(self) -> None:
        self.rows: dict[str, EdgeRow] = {}

    def get(self, edge: str) -> EdgeRow | None:
        return self.rows.get(edge)

    def add(self, row: EdgeRow) -> None:
        assert row.id not in self.rows, f"duplicate edge {row.id}"
        self.rows[row.id] = row


@dataclass(frozen=True, slots=True)
class AuditRecord:
    actor: str
    role: str | None
    action: str
    target: str
    detail: Mapping[str, Any] | None
    at: datetime


class FakeAuditLog:
    def __init__(self) -> None:
        self.records: list[AuditRecord] = []

    def record(self, actor: Actor, action: str, target: str, detail: Mapping[str, Any] | None = None, *,
               at: datetime, describes_request: bool = True) -> None:
        user, role = (actor.user, actor.role) if isinstance(actor, Principal) else (actor, None)
        self.records.append(AuditRecord(user, role, action, target, detail, at))


class FakeEvents:
    """The events repository over dicts: ``edges`` (edge -> plant), ``machines`` (id -> (edge,
    max_event_qty)), ``streams`` (stream -> its counters), ``rows`` ((stream, seq) -> column values
    with ``id``), ``gaps`` and ``rejections``; ``statements`` counts calls (a batch's round trips)."""

    def __init__(self) -> None:
        self.edges: dict[str, str] = {}
        self.machines_: dict[str, tuple[str | None, int | None]] = {}
        self.streams: dict[str, dict[str, Any]] = {}
        self.rows: dict[tuple[str, int], dict[str, Any]] = {}
        self.gaps: list[dict[str, Any]] = []
        self.rejections: list[dict[str, Any]] = []
        self.statements = 0

    def _count(self) -> None:
        self.statements += 1

    def edge_plant(self, edge: str) -> str | None:
        self._count()
        return self.edges.get(edge)

    def lock_stream(self, stream: str) -> StreamState | None:
        self._count()
        s = self.streams.get(stream)
        if s is None:
            return None
        return StreamState(stream, s["edge"], s["acked_through"], s["last_seq"], s["skipped"])

    def create_stream(self, stream: str, edge: str, plant: str, now: datetime) -> None:
        self._count()
        self.streams.setdefault(stream, {"edge": edge, "plant": plant, "acked_through": 0, "last_seq": 0,
                                         "skipped": 0, "batches": 0, "accepted": 0, "duplicates": 0,
                                         "rejected": 0, "last_seen": now})

    def save_stream(self, stream: str, *, acked_through: int, last_seq: int, accepted: int, duplicates: int,
                    rejected: int, now: datetime) -> None:
        self._count()
        s = self.streams[stream]
        s.update(acked_through=acked_through, last_seq=last_seq, last_seen=now, batches=s["batches"] + 1,
                 accepted=s["accepted"] + accepted, duplicates=s["duplicates"] + duplicates,
                 rejected=s["rejected"] + rejected)

    def held(self, edge: str, stream: str, above: int) -> list[tuple[int, str]]:
        self._count()
        return [(seq, r["status"]) for (st, seq), r in sorted(self.rows.items())
                if st == stream and r["edge"] == edge and seq > above]

    def stored_seqs(self, edge: str, stream: str, lo: int, hi: int) -> set[int]:
        self._count()
        return {seq for (st, seq), r in self.rows.items() if st == stream and r["edge"] == edge and lo <= seq <= hi}

    def machines(self, machines: Collection[str]) -> list[tuple[str, str | None, int | None]]:
        self._count()
        return [(m, *self.machines_[m]) for m in machines if m in self.machines_]

    def insert(self, rows: Sequence[Mapping[str, Any]]) -> dict[int, int]:
        self._count()
        ids: dict[int, int] = {}
        for r in rows:
            key = (r["stream"], r["seq"])
            assert key not in self.rows, f"unique (edge, stream, seq) violated: {key}"
            ids[r["seq"]] = len(self.rows) + 1
            self.rows[key] = {**r, "id": ids[r["seq"]]}
        return ids

    def accept_pending(self, edge: str, stream: str, above: int, through: int, now: datetime) -> list[StoredEvent]:
        self._count()
        out: list[StoredEvent] = []
        for (st, seq), r in sorted(self.rows.items()):
            if st == stream and r["edge"] == edge and above < seq <= through and r["status"] == "pending":
                r.update(status="accepted", accepted_at=now)
                out.append(stored(r))
        return out

    def close_gaps(self, stream: str, through: int, now: datetime) -> None:
        self._count()
        for g in self.gaps:
            if g["stream"] == stream and g["closed"] is None and g["through_seq"] <= through:
                g.update(closed=now, resolution="filled")

    def open_gaps(self, edge: str, stream: str, gaps: Sequence[tuple[int, int]], now: datetime) -> None:
        self._count()
        self.gaps += [{"stream": stream, "edge": edge, "from_seq": lo, "through_seq": hi, "opened": now,
                       "closed": None, "resolution": None} for lo, hi in gaps]

    def reject(self, rows: Sequence[Mapping[str, Any]], *, mark: bool = False) -> None:
        self._count()
        for r in rows:
            if mark:
                self.rows[(r["stream"], r["seq"])].update(status="rejected", accepted_at=None)
            self.rejections.append({"id": len(self.rejections) + 1, "status": "open", **r})

    def open_gaps_of(self, stream: str) -> list[OpenGap]:
        self._count()
        return sorted((OpenGap(i, g["from_seq"], g["through_seq"]) for i, g in enumerate(self.gaps, 1)
                       if g["stream"] == stream and g["closed"] is None), key=lambda g: g.from_seq)

    def settle_gap(self, gap_id: int, *, resolution: str, by: str, reason: str, now: datetime) -> None:
        self._count()
        self.gaps[gap_id - 1].update(closed=now, resolution=resolution, accepted_by=by, reason=reason)

    def trim_gap(self, gap_id: int, from_seq: int) -> None:
        self._count()
        self.gaps[gap_id - 1]["from_seq"] = from_seq

    def advance_stream(self, stream: str, *, accepted: int, skipped: int = 0, acked_through: int | None = None) -> None:
        self._count()
        s = self.streams[stream]
        s.update(accepted=s["accepted"] + accepted, skipped=s["skipped"] + skipped)
        if acked_through is not None:
            s["acked_through"] = acked_through

    def rejected(self, rejected_id: int) -> RejectedEvent | None:
        self._count()
        r = next((r for r in self.rejections if r["id"] == rejected_id), None)
        if r is None:
            return None
        return RejectedEvent(r["id"], r["event_id"], r["edge"], r["stream"], r["seq"], r["status"], r["body"])

    def replace_event(self, event_id: int, values: Mapping[str, Any]) -> StoredEvent:
        self._count()
        row = next(r for r in self.rows.values() if r["id"] == event_id)
        row.update(values)
        return stored(row)

    def mark_replayed(self, rejected_id: int, by: str, now: datetime) -> None:
        self._count()
        next(r for r in self.rejections if r["id"] == rejected_id).update(
            status="replayed", replayed_at=now, replayed_by=by)


def stored(row: Mapping[str, Any]) -> StoredEvent:
    """The posting seam's value of one of :class:`FakeEvents`' rows."""
    return StoredEvent(row["id"], *(row[name] for name in EVENT_FIELDS))


class FakeUnitOfWork(AbstractUnitOfWork):
    def __init__(self, master: MasterData, now: datetime = NOW) -> None:
        self.work_orders: FakeWorkOrders = FakeWorkOrders()
        self.dispatches: FakeDispatches = FakeDispatches()
        self.event_postings: FakeEventPostings = FakeEventPostings()
        self.records: FakeRecords = FakeRecords()
        self.periods: FakePeriods = FakePeriods()
        self.master: FakeMasterData = FakeMasterData(master, self.periods)
        self.approvals: FakeApprovals = FakeApprovals()
        self.tokens: FakeTokens = FakeTokens()
        self.alerts: FakeAlerts = FakeAlerts()
        self.webhooks: FakeWebhooks = FakeWebhooks()
        self.purchase_orders: FakePurchaseOrders = FakePurchaseOrders()
        self.selling_prices: FakeSellingPrices = FakeSellingPrices()
        self.edges: FakeEdges = FakeEdges()
        self.recommendations: FakeRecommendations = FakeRecommendations()
        self.audit: FakeAuditLog = FakeAuditLog()
        self.events: FakeEvents = FakeEvents()
        self.clock = lambda: now
        self.commits = 0
        self.rollbacks = 0

    def commit(self) -> None:
        self.commits += 1

    def rollback(self) -> None:
        self.rollbacks += 1

    def savepoint(self) -> AbstractContextManager[object]:
        """Undoes the events repository's changes when left by an exception, as a database would."""
        return self._savepoint()

    @contextmanager
    def _savepoint(self) -> Iterator[object]:
        saved = copy.deepcopy(self.events.__dict__)
        try:
            yield self
        except BaseException:
            statements = self.events.statements
            self.events.__dict__.update(saved)
            self.events.statements = statements
            raise

    @property
    def session(self) -> Session:
        raise AssertionError("this handler path still needs a database session (deeper costing call)")
