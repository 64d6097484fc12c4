"""Byte/word orders named and ranked for ``sfsync edge probe`` (pure: no PLC)."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.config import ModbusTagConfig
from protocols.modbus_codec import Order, all_interpretations, encode
from protocols.modbus_orders import (
    ALL_AGREE,
    Expectation,
    NamedOrder,
    order_by_key,
    orders_for,
    rank_orders,
    tag_snippet,
)

ORDERS: list[tuple[Order, Order]] = [("big", "big"), ("big", "little"), ("little", "big"), ("little", "little")]
NAMES_32: dict[tuple[Order, Order], str] = {
    ("big", "big"): "ABCD",
    ("big", "little"): "CDAB",
    ("little", "big"): "BADC",
    ("little", "little"): "DCBA",
}
NAMES_64: dict[tuple[Order, Order], str] = {
    ("big", "big"): "ABCDEFGH",
    ("big", "little"): "GHEFCDAB",
    ("little", "big"): "BADCFEHG",
    ("little", "little"): "HGFEDCBA",
}


def views(value: Any, value_type: str, byte_order: Order = "big", word_order: Order = "big") -> dict[str, Any]:
    """What the probe shows for a PLC holding ``value`` in the given order."""
    regs = encode(value, value_type, byte_order=byte_order, word_order=word_order)  # type: ignore[arg-type]
    return all_interpretations(regs, value_type)  # type: ignore[arg-type]


def order(name: str) -> NamedOrder:
    found = next((o for o in orders_for(2) + orders_for(4) if o.name == name), None)
    assert found is not None
    return found


# ---------------------------------------------------------------- names


def test_orders_are_named_both_ways_and_keyed_like_the_probe() -> None:
    for count, names in ((2, NAMES_32), (4, NAMES_64)):
        orders = orders_for(count)
        assert {(o.byte_order, o.word_order): o.name for o in orders} == names
        assert [o.key for o in orders] == list(all_interpretations([0] * count, "u32" if count == 2 else "u64"))
        for o in orders:
            assert order_by_key(count, o.key) == o
            assert o.config == f'byte_order = "{o.byte_order}", word_order = "{o.word_order}"'
    assert order("CDAB").words == "low word first (word swap)" and order("CDAB").word_order == "little"
    assert order("ABCD").words.endswith("(Modbus default)")
    assert orders_for(1) == () and orders_for(3) == ()


def test_the_64_bit_names_are_the_16_bit_word_sequence_as_stored() -> None:
    """Bytes A..H, A most significant: the registers the PLC holds, read as letter pairs."""
    value = int.from_bytes(b"ABCDEFGH", "big")
    for (byte_order, word_order), name in NAMES_64.items():
        regs = encode(value, "u64", byte_order=byte_order, word_order=word_order)
        assert b"".join(r.to_bytes(2, "big") for r in regs).decode() == name
    value32 = int.from_bytes(b"ABCD", "big")
    for (byte_order, word_order), name in NAMES_32.items():
        regs = encode(value32, "u32", byte_order=byte_order, word_order=word_order)
        assert b"".join(r.to_bytes(2, "big") for r in regs).decode() == name


# ---------------------------------------------------------------- one read


def test_the_issue_case_counter_13_stored_low_word_first_is_cdab() -> None:
    alternatives = views(13, "u32", "big", "little")
    assert alternatives["byte_order=big word_order=big"] == 851968  # what the default order shows
    verdict = rank_orders(orders_for(2), [alternatives], current=order("ABCD"))
    assert verdict.chosen == order("CDAB") and verdict.reason == "smallest non-negative value"
    assert not verdict.all_agree


@pytest.mark.parametrize(("byte_order", "word_order"), ORDERS)
def test_each_32_bit_order_of_a_small_counter_is_found(byte_order: Order, word_order: Order) -> None:
    verdict = rank_orders(orders_for(2), [views(13, "u32", byte_order, word_order)])
    assert verdict.chosen is not None and verdict.chosen.name == NAMES_32[(byte_order, word_order)]


@pytest.mark.parametrize(("byte_order", "word_order"), ORDERS)
def test_each_64_bit_order_is_found(byte_order: Order, word_order: Order) -> None:
    verdict = rank_orders(orders_for(4), [views(1_234_567, "u64", byte_order, word_order)])
    assert verdict.chosen is not None and verdict.chosen.name == NAMES_64[(byte_order, word_order)]


@given(st.integers(1, 255), st.sampled_from(ORDERS), st.sampled_from(["u32", "i32"]))
def test_a_counter_below_256_is_always_found_from_one_read(value: int, orders: tuple[Order, Order], kind: str) -> None:
    verdict = rank_orders(orders_for(2), [views(value, kind, *orders)])
    assert verdict.chosen is not None and (verdict.chosen.byte_order, verdict.chosen.word_order) == orders


def test_a_counter_at_zero_reads_the_same_in_every_order() -> None:
    for count, kind in ((2, "u32"), (4, "u64")):
        verdict = rank_orders(orders_for(count), [views(0, kind)], current=orders_for(count)[1])
        assert verdict.all_agree and verdict.chosen is None and verdict.reason == ALL_AGREE
        assert verdict.reason == "all orders agree: let it count, then probe again"


def test_a_watch_where_nothing_moved_and_all_agree_still_says_so() -> None:
    verdict = rank_orders(orders_for(2), [views(0, "u32")] * 5)
    assert verdict.all_agree


def test_orders_that_read_the_same_are_named_and_the_configured_one_wins_the_tie() -> None:
    # 0x0101 0x0101: byte swapping changes nothing, word swapping changes nothing either
    alternatives = all_interpretations([0x0101, 0x0101], "u32")
    assert rank_orders(orders_for(2), [alternatives]).all_agree
    # 0x0000 0x0101: the byte swap reads the same, the word swap does not
    alternatives = all_interpretations([0x0000, 0x0101], "u32")
    verdict = rank_orders(orders_for(2), [alternatives], current=order("BADC"))
    assert verdict.chosen == order("BADC") and verdict.same_as_chosen == (order("ABCD"),)


def test_floats_rank_by_plausible_magnitude() -> None:
    for byte_order, word_order in ORDERS:
        verdict = rank_orders(orders_for(2), [views(21.5, "f32", byte_order, word_order)])
        assert verdict.chosen is not None and verdict.chosen.name == NAMES_32[(byte_order, word_order)]
    nan_everywhere = [{o.key: float("nan") for o in orders_for(2)}]
    verdict = rank_orders(orders_for(2), nan_everywhere)
    assert verdict.chosen is None and not verdict.all_agree and "finite" in verdict.reason


def test_undecodable_and_negative_values_are_never_chosen() -> None:
    keys = [o.key for o in orders_for(2)]
    sample = {keys[0]: None, keys[1]: -5, keys[2]: 70000, keys[3]: float("inf")}
    verdict = rank_orders(orders_for(2), [sample])
    assert verdict.chosen is not None and verdict.chosen.key == keys[2]
    only_negative = {keys[0]: -1, keys[1]: -2, keys[2]: -3, keys[3]: -4}
    verdict = rank_orders(orders_for(2), [only_negative])
    assert verdict.chosen is None and "non-negative" in verdict.reason


# ---------------------------------------------------------------- configured range


def test_the_configured_range_beats_the_smallest_value() -> None:
    # 65536 stored big/big: CDAB reads 1, smaller than the truth; only the real value is a configured code
    alternatives = views(65536, "u32")
    assert rank_orders(orders_for(2), [alternatives]).chosen == order("CDAB")  # rule 3 alone misleads
    states = Expectation("the state codes of M1", codes=frozenset({65536, 7}))
    verdict = rank_orders(orders_for(2), [alternatives], expectation=states)
    assert verdict.chosen == order("ABCD") and verdict.reason == "the only value within the state codes of M1"


def test_a_counter_width_narrows_the_choice_then_the_smallest_wins() -> None:
    alternatives = views(300, "u32", "little", "little")  # DCBA; the others read 738263040, 11264, 2885681152
    counter = Expectation("the good counter range of M1 (0..65535)", low=0, high=65535, max_step=1000)
    verdict = rank_orders(orders_for(2), [alternatives], expectation=counter)
    assert verdict.chosen == order("DCBA")
    assert verdict.reason == "smallest non-negative value within the good counter range of M1 (0..65535)"


def test_nothing_within_the_range_falls_back_and_says_so() -> None:
    counter = Expectation("the scrap counter range of M1 (0..99)", low=0, high=99)
    verdict = rank_orders(orders_for(2), [views(300, "u32", "big", "little")], expectation=counter)
    assert verdict.chosen == order("CDAB")
    assert "no order reads a value within the scrap counter range of M1 (0..99)" in verdict.reason


def test_a_timestamp_range_picks_the_order_of_a_plausible_time() -> None:
    ms = 1_796_000_000_000  # 2026-11
    clock = Expectation("a plausible ms-since-1970 time", low=1_000_000_000_000, high=4_102_444_800_000)
    for byte_order, word_order in ORDERS:
        verdict = rank_orders(orders_for(4), [views(ms, "u64", byte_order, word_order)], expectation=clock)
        assert verdict.chosen is not None and verdict.chosen.name == NAMES_64[(byte_order, word_order)]
        assert verdict.reason.startswith("the only value within")


# ---------------------------------------------------------------- --watch


def test_watch_settles_a_counter_whose_low_word_is_zero() -> None:
    """65536 -> 65537 -> 65539: one read says CDAB (reads 1), the watch says ABCD (+1, +2)."""
    samples = [views(v, "u32") for v in (65536, 65537, 65539)]
    assert rank_orders(orders_for(2), samples[:1]).chosen == order("CDAB")
    verdict = rank_orders(orders_for(2), samples)
    assert verdict.chosen == order("ABCD")
    assert verdict.reason.startswith("moved by small non-negative steps while watched (+1, +2)")


@pytest.mark.parametrize(("byte_order", "word_order"), ORDERS)
def test_watch_finds_every_32_and_64_bit_order(byte_order: Order, word_order: Order) -> None:
    for count, kind, names in ((2, "u32", NAMES_32), (4, "u64", NAMES_64)):
        samples = [views(v, kind, byte_order, word_order) for v in (0xFFFE, 0xFFFF, 0x10000, 0x10003)]
        verdict = rank_orders(orders_for(count), samples)
        assert verdict.chosen is not None and verdict.chosen.name == names[(byte_order, word_order)]
        assert verdict.reason.startswith("moved by small")


@given(
    st.integers(0, 2**32 - 3000),
    st.lists(st.integers(0, 255), min_size=1, max_size=12).filter(any),
    st.sampled_from(ORDERS),
)
def test_watch_always_finds_a_counter_that_counts(start: int, steps: list[int], orders: tuple[Order, Order]) -> None:
    values = [start]
    for step in steps:
        values.append(values[-1] + step)
    verdict = rank_orders(orders_for(2), [views(v, "u32", *orders) for v in values])
    assert verdict.chosen is not None and (verdict.chosen.byte_order, verdict.chosen.word_order) == orders


def test_watch_without_movement_falls_back_to_the_value_and_says_it_did_not_move() -> None:
    samples = [views(13, "u32", "big", "little")] * 4
    verdict = rank_orders(orders_for(2), samples)
    assert verdict.chosen == order("CDAB")
    assert verdict.reason == "smallest non-negative value (the value did not move while watched)"


def test_watch_steps_over_the_counter_sanity_do_not_count_as_small() -> None:
    samples = [views(v, "u32") for v in (65536, 65537, 65538)]
    tight = Expectation("the good counter range of M1 (0..4294967295)", low=0, high=2**32 - 1, max_step=0.5)
    verdict = rank_orders(orders_for(2), samples, expectation=tight)
    assert not verdict.reason.startswith("moved")  # +1 is over a sanity of 0.5: rule 2/3 decide


def test_a_counter_going_backwards_is_not_the_moving_order() -> None:
    samples = [views(v, "u32") for v in (5, 4, 3)]
    verdict = rank_orders(orders_for(2), samples)
    assert not verdict.reason.startswith("moved") and verdict.chosen == order("ABCD")


# ---------------------------------------------------------------- TOML snippet


@pytest.mark.parametrize("name", ["ABCD", "CDAB", "BADC", "DCBA", "GHEFCDAB"])
def test_snippet_is_valid_toml_for_the_same_tag_with_the_chosen_order(name: str) -> None:
    kind = "u64" if len(name) == 8 else "f32"
    tag = ModbusTagConfig(name="saw2_good", address=100, type=kind, function="input", scale=0.5, unit=3,
                          word_order="little")
    snippet = tag_snippet(tag.model_dump(mode="json", exclude_defaults=True), order(name))
    parsed = tomllib.loads(f"tags = [{snippet}]")["tags"][0]
    again = ModbusTagConfig(**parsed)
    assert (again.byte_order, again.word_order) == (order(name).byte_order, order(name).word_order)
    orders = {"byte_order", "word_order"}
    assert again.model_dump(exclude=orders) == tag.model_dump(exclude=orders)
    assert snippet.startswith('{ name = "saw2_good", function = "input", address = 100, type = ')
    assert f'byte_order = "{order(name).byte_order}", word_order = "{order(name).word_order}"' in snippet


def test_snippet_quotes_strings_as_toml() -> None:
    snippet = tag_snippet({"name": "a", "address": 1, "type": "u32", "string_encoding": 'we"ird\\'}, order("ABCD"))
    assert tomllib.loads(f"t = {snippet}")["t"]["string_encoding"] == 'we"ird\\'
