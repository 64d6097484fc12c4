"""Master data that cannot poison later work: every number bounded and never rounded, time
zones checked against the zone database at load, a time-zone change of an entity with postings
guarded by an approval. Refused loads name every key path and write nothing (API and CLI)."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from support.api import ok, token
from support.costing import worked_example_master

from central.bootstrap import Container
from central.service_layer.costing.master_data import current_version, snapshot

API = "/api/v1"


def refused(resp: Any) -> dict[str, str]:
    """The 422 of a refused load: {key_path: message} of every problem."""
    assert resp.status_code == 422, resp.text
    body = resp.json()["error"]
    assert body["code"] == "invalid_master_data", body
    return {d["key_path"]: d["message"] for d in body["detail"]}


def stored(central: Container) -> tuple[int, dict[str, list[dict[str, Any]]]]:
    with central.read_sessions() as s:
        snap = snapshot(s)
        return current_version(s), copy.deepcopy(snap.records)


def with_value(section: str, index: int, key: str, value: Any) -> dict[str, Any]:
    doc = worked_example_master()
    doc[section][index][key] = value
    return doc


# (section, index, key, bad value, words the message must hold)
BAD_VALUES = [
    ("items", 0, "standard_cost", "1e400", "exponent"),
    ("items", 0, "standard_cost", "12345678901234567890", "15 integer digits"),
    ("items", 0, "standard_cost", "4.0000001", "6 decimal places"),
    ("items", 0, "standard_cost", "1000000000", "less than"),
    ("items", 0, "standard_cost", "NaN", "plain decimal"),
    ("work_centers", 0, "labor_rate", "25.1234567", "6 decimal places"),
    ("work_centers", 0, "voh_rate", "1E+3", "exponent"),
    ("work_centers", 0, "foh_budget", "1400.001", "2 decimal places"),
    ("work_centers", 0, "foh_budget", "1000000000000", "less than"),
    ("work_centers", 0, "normal_hours", "99999999999999999999", "15 integer digits"),
    ("routings", 0, "machine_hours", "0.0400001", "6 decimal places"),
    ("routings", 0, "labor_hours", "1000000", "less than"),
    ("routings", 0, "normal_spoilage", "0.0300000001", "6 decimal places"),
    ("entities", 0, "timezone", "Mars/Olympus_Mons", "unknown time zone"),
    ("entities", 0, "timezone", "../../etc/passwd", "unknown time zone"),
    ("entities", 0, "timezone", "", "unknown time zone"),
    ("entities", 0, "timezone", "localtime", "unknown time zone"),
    ("periods", 0, "end", "9999-12-31", "out of range"),
    ("periods", 0, "start", "0001-01-01", "out of range"),
]


def test_first_load_refuses_every_bad_number_and_zone(client: TestClient, admin: dict[str, str],
                                                      central: Container) -> None:
    for section, index, key, value, words in BAD_VALUES:
        errors = refused(client.post(f"{API}/master-data", json=with_value(section, index, key, value), headers=admin))
        path = f"{section}[{index}].{key}"
        assert path in errors and words in errors[path], (value, errors)
    version, records = stored(central)
    assert version == 0 and not any(records.values())


def test_every_error_at_once_nothing_written(client: TestClient, admin: dict[str, str], central: Container) -> None:
    ok(client.post(f"{API}/master-data", json=worked_example_master(), headers=admin))
    before = stored(central)
    doc = worked_example_master()
    doc["items"][0]["standard_cost"] = "1e400"
    doc["work_centers"][0]["foh_budget"] = "1400.001"
    doc["entities"][0]["timezone"] = "Nowhere/City"
    doc["boms"][0]["components"][0]["qty"] = "1.1234567"
    errors = refused(client.post(f"{API}/master-data", json=doc, headers=admin))
    assert set(errors) >= {"items[0].standard_cost", "work_centers[0].foh_budget", "entities[0].timezone",
                           "boms[0].components[0].qty"}
    assert stored(central) == before


def test_trailing_zeros_are_not_places_and_yaml_exponents_land_plain(central: Container, tmp_path: Path) -> None:
    from central.service_layer.costing.master_file import read_master_file

    doc = worked_example_master()
    doc["items"][0]["standard_cost"] = "4.000000000"  # more digits, not more places: not rounding
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(doc).replace("labor_rate: '25.00'", "labor_rate: 2.5e+1"))
    mf = read_master_file(path)
    assert str(mf.work_centers[0].labor_rate) == "25"  # plain notation, never "2.5E+1"
    assert str(mf.items[0].standard_cost) == "4.000000000"


def test_per_resource_post_and_put_are_bounded(client: TestClient, admin: dict[str, str], central: Container) -> None:
    ok(client.post(f"{API}/master-data", json=worked_example_master(), headers=admin))
    before = stored(central)
    errors = refused(client.post(f"{API}/items", json={"id": "G", "class": "raw", "standard_cost": "1e400"},
                                 headers=admin))
    assert "items[0].standard_cost" in errors
    errors = refused(client.post(f"{API}/items", json={"id": "G", "class": "raw", "standard_cost": "0.1234567"},
                                 headers=admin))
    assert "decimal places" in errors["items[0].standard_cost"]
    wc = dict(worked_example_master()["work_centers"][0], foh_budget="99999999999999999999.00")
    errors = refused(client.put(f"{API}/work-centers/WC-PRESS", json=wc, headers=admin))
    assert "integer digits" in errors["work_centers[0].foh_budget"]
    assert stored(central) == before


def test_a_receipt_after_a_bounded_load_posts(client: TestClient, admin: dict[str, str]) -> None:
    """The largest standard cost that loads is still a cost a receipt can post."""
    ok(client.post(f"{API}/master-data", json=with_value("items", 0, "standard_cost", "999999999.999999"),
                   headers=admin))
    ok(client.post(f"{API}/goods-receipts", json={"item": "S", "qty": "5", "unit_price": "999999999.999999"},
                   headers=admin), 201)


def timezone_of(central: Container, entity: str) -> str:
    with central.read_sessions() as s:
        return snapshot(s).entity(entity).timezone


def test_time_zone_change_before_postings_applies_at_once(client: TestClient, admin: dict[str, str],
                                                          central: Container) -> None:
    ok(client.post(f"{API}/master-data", json=worked_example_master(), headers=admin))
    result = ok(client.post(f"{API}/master-data", json=with_value("entities", 0, "timezone", "Europe/Berlin"),
                            headers=admin))
    assert "pending_approval" not in result and result["changed"]
    assert timezone_of(central, "E1") == "Europe/Berlin"


def test_time_zone_change_with_postings_waits_for_another_controller(client: TestClient, admin: dict[str, str],
                                                                     central: Container) -> None:
    ok(client.post(f"{API}/master-data", json=worked_example_master(), headers=admin))
    ok(client.post(f"{API}/goods-receipts", json={"item": "S", "qty": "5", "unit_price": "4.00"}, headers=admin), 201)
    version = stored(central)[0]
    result = ok(client.post(f"{API}/master-data", json=with_value("entities", 0, "timezone", "Asia/Tokyo"),
                            headers=admin))
    pending = result["pending_approval"]
    assert pending["key_paths"] == ["entities[0].timezone"] and pending["required_role"] == "controller"
    assert timezone_of(central, "E1") == "UTC" and stored(central)[0] == version  # nothing written yet
    own = client.post(f"{API}/approvals/{pending['id']}/approve", json={}, headers=admin)
    assert own.status_code == 403, own.text  # never the requester
    assert timezone_of(central, "E1") == "UTC"
    ok(client.post(f"{API}/approvals/{pending['id']}/approve", json={}, headers=token(central, "carla", "controller")))
    assert timezone_of(central, "E1") == "Asia/Tokyo" and stored(central)[0] > version
    # everything that reads the entity's zone keeps working
    for path in ("/journal?limit=5", "/trial-balance", "/reports/oee", "/reports/downtime", "/periods"):
        ok(client.get(f"{API}{path}", headers=admin))
    ok(client.post(f"{API}/goods-receipts", json={"item": "S", "qty": "1", "unit_price": "4.00"}, headers=admin), 201)
    ok(client.post(f"{API}/journal", headers=admin, json={
        "memo": "accrual", "lines": [{"account": "1300", "debit": "1.00"}, {"account": "2000", "credit": "1.00"}]}),
        202)


# --- the CLI: a bad file exits 2 with every key path and creates no database -------------------------


def run_load(tmp_path: Path, master: Path, db: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SFSYNC_CENTRAL_")}
    env["SFSYNC_CENTRAL_DATABASE__URL"] = f"sqlite:///{db}"
    return subprocess.run([sys.executable, "-m", "sfsync.cli", "central", "load", str(master)],
                          capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)


def test_cli_load_of_a_bad_file_exits_2_naming_every_key_and_creates_nothing(tmp_path: Path) -> None:
    doc = worked_example_master()
    doc["items"][0]["standard_cost"] = "1e400"
    doc["entities"][0]["timezone"] = "../../etc/passwd"
    doc["work_centers"][0]["foh_budget"] = "1400.005"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(doc))
    db = tmp_path / "central.db"
    proc = run_load(tmp_path, bad, db)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    for path in ("items[0].standard_cost", "entities[0].timezone", "work_centers[0].foh_budget"):
        assert f"{bad}: {path}:" in proc.stderr, proc.stderr
    assert not db.exists()


@pytest.mark.parametrize(("content", "reason"), [
    (b"entities: [{id: E1, name: M\xfcller GmbH}]\n", "not UTF-8"),
    (b"entities: [{id: E1\n  - : :\n", "not valid YAML"),
])
def test_cli_load_of_an_unreadable_file_exits_2(tmp_path: Path, content: bytes, reason: str) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(content)
    db = tmp_path / "central.db"
    proc = run_load(tmp_path, bad, db)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert str(bad) in proc.stderr and reason in proc.stderr
    assert not db.exists()


def test_cli_load_refused_leaves_a_loaded_database_unchanged(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(worked_example_master()))
    db = tmp_path / "central.db"
    first = run_load(tmp_path, good, db)
    assert first.returncode == 0, first.stderr
    before = db.read_bytes()
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(with_value("items", 0, "standard_cost", "4.0000001")))
    proc = run_load(tmp_path, bad, db)
    assert proc.returncode == 2 and "items[0].standard_cost" in proc.stderr
    assert db.read_bytes() == before


def test_a_value_stored_before_the_bounds_is_named_at_the_next_load(client: TestClient, admin: dict[str, str],
                                                                    central: Container) -> None:
    from central.adapters.db.models_costing import MasterRecordRow

    ok(client.post(f"{API}/master-data", json=worked_example_master(), headers=admin))
    with central.write_sessions() as s, s.begin():
        row = s.get(MasterRecordRow, ("items", "S"))
        assert row is not None
        row.data = {**row.data, "standard_cost": "1E+400"}  # as an older release could have stored it
        entity = s.get(MasterRecordRow, ("entities", "E1"))
        assert entity is not None
        entity.data = {**entity.data, "timezone": "../../etc/passwd"}
    before = stored(central)
    errors = refused(client.post(f"{API}/master-data", json={"scrap_reasons": [{"code": "NEW"}]}, headers=admin))
    assert any(path.startswith("items[") and path.endswith(".standard_cost") for path in errors), errors
    assert "unknown time zone" in errors["entities[0].timezone"]
    assert stored(central) == before


def test_yaml_numbers_that_are_not_finite_or_too_large_are_named(tmp_path: Path) -> None:
    from central.domain.errors import MasterDataError
    from central.service_layer.costing.master_file import read_master_file

    path = tmp_path / "m.yaml"
    path.write_text("items:\n"
                    "  - {id: A, class: raw, standard_cost: .inf}\n"
                    "  - {id: B, class: raw, standard_cost: -.NaN}\n"
                    "  - {id: C, class: raw, standard_cost: 1.0e+400}\n"
                    "  - {id: D, class: raw, standard_cost: 4.1234567}\n"
                    "  - {id: E, class: raw, standard_cost: 4.50}\n")
    with pytest.raises(MasterDataError) as info:
        read_master_file(path)
    assert [e.key_path for e in info.value.errors] == [f"items[{i}].standard_cost" for i in range(4)]
