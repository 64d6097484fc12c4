"""Standard cost roll-up: the worked example's card and semi-finished items."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from support.domain import worked_example_master

from central.domain.costing import roll_up, standard_cost, unit_cost
from central.domain.errors import MasterDataError
from central.domain.master_data import Bom, BomLine, Item, ItemClass, MasterData, Routing, WorkCentre

D = Decimal


def test_worked_example_card() -> None:
    card = standard_cost(worked_example_master(), "BR-100")
    assert card.material == D("7.00")
    assert card.labor == D("1.00")
    assert card.voh == D("0.60")
    assert card.foh == D("1.40")
    assert card.per_unit_processed == D("10.00")
    assert card.good_unit == D("10.30")
    assert card.crew_ratio == 1
    assert card.component_qty("S") == D("1.5")
    assert card.component_qty("X") == 0
    assert dict(card.elements()) == {
        "material:S": D("6.0"),
        "material:F": D("1.00"),
        "labor": D("1.00"),
        "voh": D("0.60"),
        "foh": D("1.40"),
    }


def _with_semi() -> MasterData:
    master = worked_example_master()
    # a semi-finished blank made from S on a second centre, used twice in an assembly
    semi = Item("BLANK", ItemClass.SEMI, "pcs")
    assembly = Item("ASM-1", ItemClass.FINISHED, "pcs")
    centre = WorkCentre("WC-CUT", "P1", D("30.00"), D("12.00"), D("1000.00"), D("30"))
    return replace(
            master,
            items=(*master.items, semi, assembly),
            boms=(
                *master.boms,
                Bom("BLANK", (BomLine("S", D("0.5")),)),
                Bom("ASM-1", (BomLine("BLANK", D("2")), BomLine("F", D("3")))),
            ),
            work_centers=(*master.work_centers, centre),
            routings=(
                *master.routings,
                Routing("BLANK", "WC-CUT", D("0.02"), D("0.01"), D("0.05")),
                Routing("ASM-1", "WC-PRESS", D("0.1"), D("0.05")),
            ),
    )


def test_semi_finished_enters_at_good_unit_cost() -> None:
    master = _with_semi()
    cards = roll_up(master)
    blank = cards["BLANK"]
    # FOH rate 1000/30 does not divide evenly: kept at six places
    assert blank.foh_rate == D("33.333333")
    assert blank.crew_ratio == 2
    assert blank.per_unit_processed == D("2.00") + D("0.60") + D("0.12") + D("0.333333") == D("3.053333")
    # 3.053333 x 1.05 = 3.20599965 -> six places half-up
    assert blank.good_unit == D("3.206000")
    asm = cards["ASM-1"]
    assert asm.materials[0].unit_cost == blank.good_unit
    assert asm.material == D("6.412000") + D("0.75")
    assert asm.per_unit_processed == asm.material + D("2.5") + D("0.75") + D("1.75")
    assert asm.good_unit == asm.per_unit_processed  # no normal spoilage
    assert unit_cost(master, cards, "S") == D("4.00")
    assert unit_cost(master, cards, "BLANK") == blank.good_unit


def test_bom_cycle_refused() -> None:
    master = _with_semi()
    boms = tuple(b for b in master.boms if b.item != "BLANK")
    cyclic = replace(master, boms=(*boms, Bom("BLANK", (BomLine("ASM-1", D("1")),))))
    with pytest.raises(MasterDataError, match="cycle"):
        roll_up(cyclic)


def test_raw_item_without_standard_cost_refused() -> None:
    master = worked_example_master()
    broken = replace(master, items=(Item("S", ItemClass.RAW, "kg"), *master.items[1:]))
    with pytest.raises(MasterDataError, match="standard cost"):
        standard_cost(broken, "BR-100")
