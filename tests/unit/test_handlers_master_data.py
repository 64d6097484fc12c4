"""The master-data load handler on a fake unit of work (no database): the first load takes
effect, the same document again changes nothing, an invalid merged set writes nothing, and a
later change to guarded data (a raw item's standard cost, a work-centre rate) is parked for a
second person's approval instead of written; the approval applies it."""

from __future__ import annotations

import copy
from dataclasses import replace
from datetime import date
from typing import Any

import pytest

from central.adapters.db.models_costing import PeriodRow
from central.bootstrap import APPLIERS
from central.domain.commands import AddMasterRecord, ApproveRequest, LoadMasterData, ReplaceMasterRecord
from central.domain.errors import MasterDataError
from central.errors import Conflict, Forbidden, NotFound
from central.service_layer.costing.master_data import APPROVAL_KIND, load_master_data
from central.service_layer.costing.master_records import add_record, replace_record
from central.service_layer.governance.approvals import approve_request, register_appliers
from tests.support.costing import worked_example_master as example_document
from tests.support.domain import worked_example_master
from tests.support.fake_uow import NOW, FakeUnitOfWork

register_appliers(APPLIERS)

TODAY = date(2026, 11, 3)


def _doc() -> dict[str, Any]:
    return example_document(TODAY)


def _loaded() -> FakeUnitOfWork:
    uow = FakeUnitOfWork(worked_example_master())
    load_master_data(LoadMasterData(_doc(), "engineer", source="test"), uow)
    return uow


def test_the_first_load_takes_effect() -> None:
    uow = FakeUnitOfWork(worked_example_master())
    summary = load_master_data(LoadMasterData(_doc(), "engineer", source="test"), uow)
    assert summary.changed and summary.version == 1 and summary.approval is None
    assert summary.sections["items"] == {"created": 3, "updated": 0, "unchanged": 0}
    changes, periods, machines = uow.master.saved[0]
    assert {(section, key) for section, key, _, created in changes if section == "items" and created} == {
        ("items", "S"), ("items", "F"), ("items", "BR-100")}
    assert [p["id"] for p in periods] == ["P-TEST"]
    assert [(m["id"], m["plant"]) for m in machines] == [("PRESS-2", "P1")]
    assert [(r.action, r.actor, r.at) for r in uow.audit.records] == [("master_data.load", "engineer", NOW)]
    assert uow.master.versions[0]["source"] == "test"
    assert uow.commits == 1


def test_the_same_document_twice_changes_nothing() -> None:
    uow = _loaded()
    summary = load_master_data(LoadMasterData(_doc(), "engineer"), uow)
    assert not summary.changed and summary.version == 1
    assert summary.sections["items"] == {"created": 0, "updated": 0, "unchanged": 3}
    assert len(uow.master.versions) == 1 and len(uow.audit.records) == 1


def test_an_invalid_merged_set_writes_nothing() -> None:
    uow = FakeUnitOfWork(worked_example_master())
    doc = _doc()
    doc["routings"][0]["work_center"] = "WC-NOPE"
    with pytest.raises(MasterDataError) as caught:
        load_master_data(LoadMasterData(doc, "engineer"), uow)
    assert "routings[0].work_center" in str(caught.value.errors)
    assert (uow.master.saved, uow.master.versions, uow.commits) == ([], [], 0)


def _changed_cost() -> dict[str, Any]:
    doc = _doc()
    doc["items"][0]["standard_cost"] = "4.10"
    return doc


def test_a_guarded_change_waits_for_approval_and_is_not_written() -> None:
    uow = _loaded()
    summary = load_master_data(LoadMasterData(_changed_cost(), "engineer"), uow)
    assert summary.approval is not None
    assert (summary.approval["key_paths"], summary.approval["required_role"]) == (["items[0]"], "controller")
    assert len(uow.master.saved) == 1 and uow.master.records["items"]["S"]["standard_cost"] == "4.00"
    row = uow.approvals.rows[summary.approval["id"]]
    assert (row.kind, row.requested_by, row.status) == (APPROVAL_KIND, "engineer", "pending")
    assert summary.to_data()["changed"] is False


def test_an_unguarded_change_is_written_at_once() -> None:
    uow = _loaded()
    doc = _doc()
    doc["scrap_reasons"].append({"code": "CRACK"})
    summary = load_master_data(LoadMasterData(doc, "engineer"), uow)
    assert summary.approval is None and summary.version == 2
    assert uow.approvals.rows == {}


def test_the_approved_change_is_applied_by_a_second_person_only() -> None:
    uow = _loaded()
    approval = load_master_data(LoadMasterData(_changed_cost(), "engineer"), uow).approval
    assert approval is not None
    with pytest.raises(Forbidden, match="segregation of duties"):
        approve_request(ApproveRequest(approval["id"], "engineer", "controller"), uow)
    assert uow.master.records["items"]["S"]["standard_cost"] == "4.00"
    row = approve_request(ApproveRequest(approval["id"], "ctl", "controller"), uow)
    assert row.status == "approved" and row.result is not None and row.result["changed"] is True
    assert uow.master.records["items"]["S"]["standard_cost"] == "4.10"
    assert uow.master.versions[-1]["source"] == f"approval/{approval['id']} by ctl"


def test_a_closed_periods_dates_cannot_change() -> None:
    uow = _loaded()
    uow.periods.rows["P-TEST"] = PeriodRow(id="P-TEST", entity=None, start=date(2026, 10, 4), end=date(2026, 12, 3),
                                           status="closed")
    doc = copy.deepcopy(_doc())
    doc["periods"][0]["end"] = "2026-12-31"
    with pytest.raises(Conflict, match="period P-TEST is closed: its dates cannot change"):
        load_master_data(LoadMasterData(doc, "engineer"), uow)
    assert len(uow.master.saved) == 1


# --- one record at a time (the CRUD resources) -----------------------------------------------


class _Records(FakeUnitOfWork):
    """A fake whose snapshot records are the stored records (the CRUD handlers read them there)."""

    def __init__(self) -> None:
        super().__init__(worked_example_master())
        load_master_data(LoadMasterData(_doc(), "engineer", source="test"), self)
        snap = self.master.snapshot()
        records = {s: list(r.values()) for s, r in self.master.records.items()}
        self.master._snapshot = replace(snap, records=records)


def test_adding_a_record_with_an_existing_key_is_a_conflict() -> None:
    uow = _Records()
    with pytest.raises(Conflict, match="scrap_reasons record 'BURR' exists: use PUT") as caught:
        add_record(AddMasterRecord("scrap_reasons", {"code": "BURR"}, "engineer"), uow)
    assert caught.value.code == "duplicate"
    assert len(uow.master.saved) == 1 and uow.commits == 1


def test_adding_a_new_record_loads_it_like_a_one_record_file() -> None:
    uow = _Records()
    out = add_record(AddMasterRecord("scrap_reasons", {"code": "CRACK"}, "engineer"), uow)
    assert out["record"] == {"code": "CRACK"} and out["changed"] is True
    assert uow.master.records["scrap_reasons"]["CRACK"]["code"] == "CRACK"
    assert uow.master.versions[-1]["source"] == "api:scrap_reasons"


def test_replacing_an_unknown_record_is_not_found() -> None:
    uow = _Records()
    with pytest.raises(NotFound, match="no items record 'X-1'"):
        replace_record(ReplaceMasterRecord("items", "X-1", {"id": "X-1", "class": "raw", "standard_cost": "1.00"},
                                           "engineer"), uow)
    assert len(uow.master.saved) == 1


def test_replacing_a_guarded_record_waits_for_approval() -> None:
    uow = _Records()
    out = replace_record(ReplaceMasterRecord("items", "S", {"id": "S", "class": "raw", "unit": "kg",
                                                            "standard_cost": "4.20", "issue": "manual"}, "engineer"),
                         uow)
    assert out["pending_approval"]["key_paths"] == ["items[0]"]
    assert uow.master.records["items"]["S"]["standard_cost"] == "4.00"
