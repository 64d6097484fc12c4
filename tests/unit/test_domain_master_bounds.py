"""Master-data validation bounds every number of the merged set (places and magnitude), so a
value stored before the bounds existed is named at the next load, with its key path."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest
from support.domain import worked_example_master

from central.domain.master_data import MasterData
from central.domain.master_data_validation import validate_master_data


def replaced(master: MasterData, section: str, index: int, **changes: object) -> MasterData:
    records = list(getattr(master, section))
    records[index] = dataclasses.replace(records[index], **changes)
    return dataclasses.replace(master, **{section: tuple(records)})


def test_the_worked_example_is_within_bounds() -> None:
    errors = validate_master_data(worked_example_master())
    assert not [e for e in errors if "decimal places" in e.message or "less than" in e.message], errors


@pytest.mark.parametrize(("section", "field", "value", "path", "words"), [
    ("items", "standard_cost", Decimal("1e400"), "items[0].standard_cost", "less than"),
    ("items", "standard_cost", Decimal("4.0000001"), "items[0].standard_cost", "6 decimal places"),
    ("work_centers", "foh_budget", Decimal("1400.001"), "work_centers[0].foh_budget", "2 decimal places"),
    ("work_centers", "labor_rate", Decimal("1000000000"), "work_centers[0].labor_rate", "less than"),
    ("work_centers", "normal_hours", Decimal("1e7"), "work_centers[0].normal_hours", "less than"),
    ("routings", "machine_hours", Decimal("0.0400001"), "routings[0].machine_hours", "6 decimal places"),
])
def test_out_of_bounds_numbers_are_named(section: str, field: str, value: Decimal, path: str, words: str) -> None:
    master = worked_example_master()
    index = next(i for i, r in enumerate(getattr(master, section))
                 if getattr(r, field) is not None)
    errors = validate_master_data(replaced(master, section, index, **{field: value}))
    path = path.replace("[0]", f"[{index}]", 1)
    assert [e for e in errors if e.key_path == path and words in e.message], errors


def test_trailing_zeros_are_not_places() -> None:
    master = worked_example_master()
    index = next(i for i, item in enumerate(master.items) if item.standard_cost is not None)
    changed = replaced(master, "items", index, standard_cost=Decimal("4.000000000"))
    assert validate_master_data(changed) == validate_master_data(master)


@pytest.mark.parametrize("zone", ["../../etc/passwd", "", "Mars/Olympus_Mons", "localtime", "posixrules"])
def test_time_zones_outside_the_zone_database_are_named(zone: str) -> None:
    errors = validate_master_data(replaced(worked_example_master(), "entities", 0, timezone=zone))
    assert [e for e in errors if e.key_path == "entities[0].timezone" and "unknown time zone" in e.message], errors


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin", "America/Argentina/Buenos_Aires"])
def test_zone_database_keys_pass(zone: str) -> None:
    errors = validate_master_data(replaced(worked_example_master(), "entities", 0, timezone=zone))
    assert not [e for e in errors if e.key_path == "entities[0].timezone"]
