"""Services that declare their results as TypedDicts, and the API schemas built from them (one
definition of each shape): a service's value validated by its route's schema dumps back to the
same JSON, key order included; a value of another type is refused (strict), not coerced."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal as D
from typing import Any

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from central.adapters.db.models_access import ApiTokenRow
from central.adapters.db.models_costing import JournalEntryRow, JournalLineRow, OpRecordRow
from central.adapters.db.models_governance import ApprovalRow, AuditRow
from central.adapters.db.models_ingest import AlertRow, EdgeRow, EventRow, QuarantineRow, RejectedEventRow
from central.entrypoints.api.routers.alerts import AlertAckedOut, AlertsOut
from central.entrypoints.api.routers.approvals import ApprovalOneOut, ApprovalsOut
from central.entrypoints.api.routers.audit import AuditPageOut, AuditVerifyOut
from central.entrypoints.api.routers.edges import EdgeRegisteredOut, EdgesOut
from central.entrypoints.api.routers.events import (
    EventReplayedOut,
    EventsOut,
    QuarantineOut,
    RejectedListOut,
    StreamsOut,
)
from central.entrypoints.api.routers.inputs import GoodsReceiptOut, GoodsReceiptsOut, InputRecordOut
from central.entrypoints.api.routers.journal import JournalEntryDetailOut, JournalPageOut, TrialBalanceOut
from central.entrypoints.api.routers.master_data import MasterLoadOut, RecordWrittenOut
from central.entrypoints.api.routers.periods import PeriodClosedOut, PeriodsOut
from central.entrypoints.api.routers.tokens import TokenRevokedOut, TokensOut
from central.entrypoints.api.routers.work_orders import OrderClosedOut
from central.service_layer.access import token_dict
from central.service_layer.alerts import alert_view
from central.service_layer.costing.closing import OrderClosed, PeriodClosed
from central.service_layer.costing.inputs import GoodsReceiptView, record_view
from central.service_layer.costing.ledger import entry_view
from central.service_layer.costing.master_data import LoadSummary
from central.service_layer.governance import approval_dict
from central.service_layer.governance.audit import audit_dict
from central.service_layer.governance.seal import SealMade
from central.service_layer.ingest import queries
from tests.support.fake_uow import NOW


def _round_trip(model: type[Any], value: Any) -> str:
    """Validated and dumped as FastAPI does with a route's ``response_model`` (a model or a TypedDict)."""
    if isinstance(model, type) and issubclass(model, BaseModel):
        return model.model_validate(value).model_dump_json(exclude_unset=True)
    adapter: TypeAdapter[Any] = TypeAdapter(model)
    return adapter.dump_json(adapter.validate_python(value), exclude_unset=True).decode()


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _alert(**kw: Any) -> AlertRow:
    return AlertRow(**{"id": 3, "kind": "gap", "severity": "warning", "key": "gap:s1", "message": "gap in s1",
                       "detail": {"stream": "s1", "from": 4}, "count": 2, "created": NOW, "last_seen": NOW,
                       "status": "acknowledged", "acked_at": NOW, "acked_by": "ops", "plant": "P1", **kw})


def test_an_alert_round_trips_through_its_schemas() -> None:
    view = alert_view(_alert())
    assert list(view)[:3] == ["id", "kind", "severity"] and view["created"] == "2026-11-03T12:00:00Z"
    assert _round_trip(AlertAckedOut, {"alert": view}) == _json({"alert": view})
    page = {"alerts": [view, alert_view(_alert(id=4, detail=None, acked_at=None, acked_by=None))], "next": None}
    assert _round_trip(AlertsOut, page) == _json(page)


def test_a_token_round_trips_and_never_shows_its_hash() -> None:
    row = ApiTokenRow(id="ab12", user="ann", role="planner", token_hash="h" * 64, created=NOW,
                      expires=NOW + timedelta(days=1))
    view = token_dict(row, NOW)
    assert view["status"] == "active" and "token_hash" not in view
    assert _round_trip(TokenRevokedOut, {"token": view}) == _json({"token": view})
    assert _round_trip(TokensOut, {"tokens": [view]}) == _json({"tokens": [view]})


@pytest.mark.parametrize(("model", "value"), [
    (AlertAckedOut, {"alert": {**alert_view(_alert()), "count": "2"}}),
    (AlertAckedOut, {"alert": {k: v for k, v in alert_view(_alert()).items() if k != "key"}}),
    (TokensOut, {"tokens": [{**token_dict(ApiTokenRow(id="x", user="u", role="r", token_hash="h", created=NOW,
                                                      expires=None), NOW), "status": "lost"}]}),
])
def test_a_value_off_its_shape_is_refused(model: type[BaseModel], value: Any) -> None:
    with pytest.raises(ValidationError):
        model.model_validate(value)


def test_periods_and_journal_entries_round_trip() -> None:
    period = {"id": "2026-11", "entity": None, "start": "2026-11-01", "end": "2026-11-30", "status": "closed",
              "closed_at": "2026-12-01T08:00:00+00:00", "closed_by": "ctl"}
    assert _round_trip(PeriodsOut, {"periods": [period]}) == _json({"periods": [period]})
    entry = entry_view(JournalEntryRow(id=7, entity="E1", period="2026-11", entry_date=date(2026, 11, 3),
                                       kind="goods_receipt", memo="GR-1", rule_version=1, late=False,
                                       original_date=None, reverses=None, reason=None, record_id=3, work_order=None,
                                       created=NOW, user="ann"),
                       [JournalLineRow(line_no=2, account="2000", role="grni", debit=D(0), credit=D("40.00"),
                                       work_order=None, item="S", work_center=None, reason=None, memo=None),
                        JournalLineRow(line_no=1, account="1400", role="raw_materials", debit=D("40.00"),
                                       credit=D(0), work_order=None, item="S", work_center=None, reason=None,
                                       memo=None)], reversed_by=9)
    assert [ln["line"] for ln in entry["lines"]] == [1, 2] and entry["total_debit"] == entry["total_credit"] == "40.00"
    page = {"entries": [entry], "total": 1, "limit": 100, "offset": 0}
    assert _round_trip(JournalPageOut, page) == _json(page)
    detail = {**entry, "lineage": {"record": None, "events": []}}
    assert _round_trip(JournalEntryDetailOut, detail) == _json(detail)
    with pytest.raises(ValidationError):
        JournalPageOut.model_validate({**page, "entries": [{**entry, "late": "no"}]})


def _event(**kw: Any) -> EventRow:
    return EventRow(**{"id": 11, "plant": "P1", "edge": "edge-1", "stream": "s1", "seq": 4, "status": "accepted",
                       "machine": "PRESS-2", "kind": "count", "ts": NOW, "rx": NOW, "posting_ts": NOW,
                       "received": NOW, "accepted_at": NOW, "qty": 3, "state": None, "reason": None,
                       "flags": ["clock_skew"], "raw": {"tag": "good", "value": 7, "prev": 4}, **kw})


def test_events_round_trip_through_their_schemas() -> None:
    view = queries.event_dict(_event())
    assert view["ts"] == "2026-11-03T12:00:00Z" and list(view)[:2] == ["id", "plant"]
    page = {"events": [view, queries.event_dict(_event(id=12, status="rejected", machine=None, kind=None, ts=None,
                                                        qty=None, flags=[], raw=None))], "next": 12}
    assert _round_trip(EventsOut, page) == _json(page)
    assert _round_trip(EventReplayedOut, {"event": view}) == _json({"event": view})
    with pytest.raises(ValidationError):
        EventsOut.model_validate({**page, "events": [{**view, "seq": "4"}]})


def test_streams_with_their_gaps_keep_the_from_key() -> None:
    stream = {"stream": "s1", "edge": "edge-1", "plant": "P1", "last_seq": 9, "acked_through": 4, "held": 2,
              "gaps": [{"id": 1, "from": 5, "through": 6, "opened": "2026-11-03T12:00:00Z"}],
              "first_seen": "2026-11-03T12:00:00Z", "last_seen": None, "online": None, "status_at": None,
              "batches": 3, "accepted": 4, "duplicates": 0, "rejected": 1, "skipped": 0}
    assert _round_trip(StreamsOut, {"streams": [stream]}) == _json({"streams": [stream]})
    with pytest.raises(ValidationError):
        StreamsOut.model_validate({"streams": [{**stream, "gaps": [{"id": 1, "through": 6, "opened": None}]}]})


def test_quarantine_rejections_and_edges_round_trip() -> None:
    q = QuarantineRow(id=2, topic="sfsync/v1/P1/e/events", code="bad_header", reason="no header", size=5, times=2,
                      received=NOW, last_received=NOW, payload=b"\xff\xfe{}")
    view = queries._quarantine_dict(q)
    assert view["payload_base64"] is not None and view["payload_text"] is None
    quarantine = {"quarantine": [view], "next": None}
    assert _round_trip(QuarantineOut, quarantine) == _json(quarantine)
    rej = RejectedEventRow(id=3, event_id=11, edge="edge-1", stream="s1", seq=4, field="qty", code="invalid_value",
                           reason="qty must be > 0", body={"seq": 4, "qty": -1}, status="open", received=NOW,
                           replayed_at=None, replayed_by=None)
    rejected = {"rejected_events": [queries._rejected_dict(rej)], "next": 3}
    assert _round_trip(RejectedListOut, rejected) == _json(rejected)
    edge = queries.edge_dict(EdgeRow(id="edge-1", plant="P1", registered=NOW, online=True, status_at=None,
                                     version="1.2"))
    assert _round_trip(EdgesOut, {"edges": [edge]}) == _json({"edges": [edge]})
    assert _round_trip(EdgeRegisteredOut, {"edge": edge}) == _json({"edge": edge})


def test_approvals_round_trip_through_their_schemas() -> None:
    row = ApprovalRow(id=5, kind="period_reopen", status="approved", summary="reopen 2026-11", target="period/2026-11",
                      payload={"period": "2026-11", "amount": "1.10"}, payload_digest="d" * 64,
                      required_role="controller", requested_by="ann", requested_role="planner", requested_at=NOW,
                      decided_by="carl", decided_role="controller", decided_at=NOW, comment=None,
                      result={"reopened": True})
    view = approval_dict(row)
    assert view["requested_at"] is not None and list(view)[:3] == ["id", "kind", "status"]
    assert _round_trip(ApprovalOneOut, {"approval": view}) == _json({"approval": view})
    pending = approval_dict(ApprovalRow(id=6, kind="manual_journal", status="pending", summary="accrual",
                                        target=None, payload={}, payload_digest="e" * 64, required_role="controller",
                                        requested_by="ann", requested_role=None, requested_at=NOW, decided_by=None,
                                        decided_role=None, decided_at=None, comment=None, result=None))
    page = {"approvals": [view, pending], "next": 6}
    assert _round_trip(ApprovalsOut, page) == _json(page)
    with pytest.raises(ValidationError):
        ApprovalsOut.model_validate({**page, "approvals": [{**view, "id": "5"}]})


def test_audit_records_and_the_chain_report_round_trip() -> None:
    rec = audit_dict(AuditRow(seq=1, at=NOW, actor="ann", role=None, token_id=None, action="thing.do",
                              target="thing/1", detail={"n": "1.10"}, request_digest=None, prev_hash="0" * 64,
                              hash="a" * 64))
    page = {"records": [rec], "next": None}
    assert _round_trip(AuditPageOut, page) == _json(page)
    report = {"ok": False, "checked": 1, "head": {"seq": 1, "hash": "a" * 64},
              "first_broken": {"seq": 1, "code": "hash", "message": "record 1 was changed"},
              "ledger": {"ok": True, "seals": 0, "entries": 0, "lines": 0, "unsealed_entries": 0,
                         "first_mismatch": None}}
    assert _round_trip(AuditVerifyOut, report) == _json(report)
    with pytest.raises(ValidationError):
        AuditVerifyOut.model_validate({**report, "head": {"seq": 1}})


def test_inputs_round_trip_with_their_decimals_as_strings() -> None:
    receipt = record_view(OpRecordRow(id=3, kind="goods_receipt", subkind=None, work_order=None, machine=None,
                                      item="S", work_center=None, period="2026-11", posting_date=date(2026, 11, 3),
                                      qty=D("40.000000"), price=D("1.250000"), amount=None, ref="GR-1", created=NOW,
                                      user="ann", data={"purchase_order_line": 4}))
    assert (receipt["qty"], receipt["unit_price"], receipt["posting_date"]) == ("40", "1.250000", "2026-11-03")
    posted = GoodsReceiptView(**receipt, entry=9)
    assert list(posted)[-2:] == ["data", "entry"]
    assert _round_trip(GoodsReceiptOut, posted) == _json(posted)
    assert _round_trip(GoodsReceiptsOut, {"goods_receipts": [receipt]}) == _json({"goods_receipts": [receipt]})
    labour = record_view(OpRecordRow(id=4, kind="labor_booking", subkind=None, work_order=None, machine=None,
                                     item=None, work_center="WC-1", period="2026-11", posting_date=None,
                                     qty=D("7.5"), price=None, amount=D("150.00"), ref=None, created=NOW, user="ann",
                                     data={}))
    assert labour["amount"] == "150.00"
    assert _round_trip(InputRecordOut, labour) == _json(labour)
    with pytest.raises(ValidationError):
        GoodsReceiptOut.model_validate({**receipt})  # no entry
    with pytest.raises(ValidationError):
        InputRecordOut.model_validate({**labour, "amount": D("150.00")})  # a Decimal, not its string


def test_closes_round_trip_through_their_schemas() -> None:
    order: OrderClosed = {"work_order": "WO-1", "period": "2026-11", "run_hours": "7.5", "entries": 3}
    assert _round_trip(OrderClosedOut, order) == _json(order)
    seal = SealMade(4, "E1", 12, 40, 101, 112, "f" * 64).as_dict()
    assert list(seal) == ["seal", "entity", "entries", "lines", "first_entry", "last_entry", "digest"]
    period: PeriodClosed = {"period": "2026-11",
                            "work_centers": {"WC-1": {"entries": 2, "rounding": {"wip": "0.01"}},
                                             "WC-2": {"entries": 0, "rounding": {}}},
                            "seals": [seal]}
    assert _round_trip(PeriodClosedOut, period) == _json(period)
    with pytest.raises(ValidationError):
        PeriodClosedOut.model_validate({**period, "work_centers": {"WC-1": {"entries": 2, "rounding": {"wip": 0.01}}}})
    with pytest.raises(ValidationError):
        OrderClosedOut.model_validate({**order, "run_hours": D("7.5")})


def test_master_data_loads_and_one_record_writes_round_trip() -> None:
    summary = LoadSummary(version=4)
    summary.count("items", "created")
    summary.count("items", "unchanged")
    loaded = summary.to_data()
    assert loaded == {"version": 4, "changed": True, "sections": {"items": {"created": 1, "updated": 0,
                                                                             "unchanged": 1}}}
    assert _round_trip(MasterLoadOut, loaded) == _json(loaded)
    summary.approval = {"id": 7, "status": "pending", "key_paths": ["items.S.standard_cost"],
                        "required_role": "controller"}
    parked = summary.to_data()
    assert parked["changed"] is False and list(parked)[-1] == "pending_approval"
    assert _round_trip(MasterLoadOut, parked) == _json(parked)
    written = {"record": {"id": "S", "standard_cost": "1.10"}, **loaded}
    assert _round_trip(RecordWrittenOut, written) == _json(written)  # no pending_approval: stays absent
    parked_write = {"record": {"id": "S"}, **parked}
    assert _round_trip(RecordWrittenOut, parked_write) == _json(parked_write)
    with pytest.raises(ValidationError):
        RecordWrittenOut.model_validate({**written, "sections": {"items": {"created": "1", "updated": 0,
                                                                           "unchanged": 0}}})


def test_a_trial_balance_round_trips_with_and_without_its_date_range() -> None:
    lines = [{"account": "1300", "role": "raw_materials", "debit": "40.00", "credit": "0.00", "balance": "40.00"},
             {"account": "2000", "role": None, "debit": "0.00", "credit": "40.00", "balance": "-40.00"}]
    whole = {"entity": "E1", "period": "2026-11", "lines": lines, "total_debit": "40.00", "total_credit": "40.00",
             "balanced": True, "as_of": "2026-11-03T12:00:00+00:00"}
    assert _round_trip(TrialBalanceOut, whole) == _json(whole)  # no from/to: they stay absent
    ranged = {"entity": "E1", "period": None, "from": "2026-11-01", "to": None,
              **{k: whole[k] for k in list(whole)[2:]}}
    assert list(ranged)[:4] == ["entity", "period", "from", "to"]
    assert _round_trip(TrialBalanceOut, ranged) == _json(ranged)
    with pytest.raises(ValidationError):
        TrialBalanceOut.model_validate({**whole, "balanced": "yes"})
