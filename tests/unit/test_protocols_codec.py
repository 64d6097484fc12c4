"""Modbus register codec: known layouts, round trips for every type and order, probe views."""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.modbus_codec import (
    ORDERS,
    Order,
    ValueType,
    all_interpretations,
    apply_scale,
    decode,
    encode,
    format_registers,
    register_count,
)

ORDER_PAIRS = [(b, w) for b in ORDERS for w in ORDERS]

INT_RANGES: dict[str, tuple[int, int]] = {
    "u16": (0, 2**16 - 1),
    "i16": (-(2**15), 2**15 - 1),
    "u32": (0, 2**32 - 1),
    "i32": (-(2**31), 2**31 - 1),
    "u64": (0, 2**64 - 1),
}


# ---------------------------------------------------------------- known layouts


@pytest.mark.parametrize(
    ("byte_order", "word_order", "registers"),
    [
        ("big", "big", [0x1234, 0x5678]),  # ABCD
        ("big", "little", [0x5678, 0x1234]),  # CDAB
        ("little", "big", [0x3412, 0x7856]),  # BADC
        ("little", "little", [0x7856, 0x3412]),  # DCBA
    ],
)
def test_u32_layouts_match_the_abcd_names(byte_order: Order, word_order: Order, registers: list[int]) -> None:
    assert decode(registers, "u32", byte_order=byte_order, word_order=word_order) == 0x12345678
    assert encode(0x12345678, "u32", byte_order=byte_order, word_order=word_order) == registers


def test_u64_little_word_order_puts_the_low_word_first() -> None:
    regs = [0x7788, 0x5566, 0x3344, 0x1122]
    assert decode(regs, "u64", word_order="little") == 0x1122334455667788
    assert decode(regs, "u64") == 0x7788556633441122


def test_f32_and_f64_known_values() -> None:
    assert decode([0x4049, 0x0FDB], "f32") == pytest.approx(math.pi, rel=1e-6)
    hi, lo = struct.unpack(">HH", struct.pack(">f", 1.5))
    assert decode([lo, hi], "f32", word_order="little") == 1.5
    regs = list(struct.unpack(">HHHH", struct.pack(">d", -2.25)))
    assert decode(regs, "f64") == -2.25


def test_signed_types() -> None:
    assert decode([0xFFFF], "i16") == -1
    assert decode([0xFFFF], "u16") == 65535
    assert decode([0xFFFF, 0xFFFE], "i32") == -2


def test_string_stops_at_nul_and_honours_orders() -> None:
    assert decode([0x4142, 0x4300, 0x0000], "string") == "ABC"
    assert decode([0x4241, 0x0043], "string", byte_order="little") == "ABC"
    assert decode([0x4300, 0x4142], "string", word_order="little") == "ABC"
    assert encode("ABC", "string", length=3) == [0x4142, 0x4300, 0x0000]
    with pytest.raises(ValueError, match="does not fit"):
        encode("ABCDE", "string", length=2)


def test_undecodable_string_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="not valid utf-8"):
        decode([0xFFFE], "string")
    assert decode([0xE400], "string", encoding="latin-1") == "ä"


def test_bool_from_coil_and_from_register_bit() -> None:
    assert decode([1], "bool") is True
    assert decode([0], "bool") is False
    assert decode([0x0004], "bool", bit=2) is True
    assert decode([0x0004], "bool", bit=1) is False
    # bit 2 of a byte-swapped register
    assert decode([0x0400], "bool", bit=2, byte_order="little") is True
    assert encode(True, "bool", bit=2, byte_order="little") == [0x0400]


def test_wrong_register_count_and_out_of_range_are_value_errors() -> None:
    with pytest.raises(ValueError, match="needs 2 registers"):
        decode([1], "u32")
    with pytest.raises(ValueError, match=r"outside 0\.\.65535"):
        decode([70000], "u16")
    with pytest.raises(ValueError, match="does not fit"):
        encode(70000, "u16")
    with pytest.raises(ValueError, match="does not fit"):
        encode(-1, "u32")
    with pytest.raises(ValueError, match="integer"):
        encode(1.5, "u16")


def test_register_count() -> None:
    assert [register_count(t) for t in ("u16", "i16", "u32", "i32", "f32", "u64", "f64", "bool")] == [
        1, 1, 2, 2, 2, 4, 4, 1,
    ]  # fmt: skip
    assert register_count("string", 5) == 5
    with pytest.raises(ValueError):
        register_count("string")


# ---------------------------------------------------------------- round trips


@pytest.mark.parametrize(("byte_order", "word_order"), ORDER_PAIRS)
@pytest.mark.parametrize("value_type", list(INT_RANGES))
@given(data=st.data())
def test_integer_round_trip(
    value_type: ValueType, byte_order: Order, word_order: Order, data: st.DataObject
) -> None:
    lo, hi = INT_RANGES[value_type]
    value = data.draw(st.integers(lo, hi))
    regs = encode(value, value_type, byte_order=byte_order, word_order=word_order)
    assert len(regs) == register_count(value_type)
    assert all(0 <= r <= 0xFFFF for r in regs)
    assert decode(regs, value_type, byte_order=byte_order, word_order=word_order) == value


@pytest.mark.parametrize(("byte_order", "word_order"), ORDER_PAIRS)
@given(value=st.floats(width=32, allow_nan=False))
def test_f32_round_trip(byte_order: Order, word_order: Order, value: float) -> None:
    regs = encode(value, "f32", byte_order=byte_order, word_order=word_order)
    assert decode(regs, "f32", byte_order=byte_order, word_order=word_order) == value


@pytest.mark.parametrize(("byte_order", "word_order"), ORDER_PAIRS)
@given(value=st.floats(allow_nan=False))
def test_f64_round_trip(byte_order: Order, word_order: Order, value: float) -> None:
    regs = encode(value, "f64", byte_order=byte_order, word_order=word_order)
    assert decode(regs, "f64", byte_order=byte_order, word_order=word_order) == value


@pytest.mark.parametrize(("byte_order", "word_order"), ORDER_PAIRS)
def test_nan_survives_encoding(byte_order: Order, word_order: Order) -> None:
    for value_type in ("f32", "f64"):
        regs = encode(math.nan, value_type, byte_order=byte_order, word_order=word_order)  # type: ignore[arg-type]
        out = decode(regs, value_type, byte_order=byte_order, word_order=word_order)  # type: ignore[arg-type]
        assert isinstance(out, float)
        assert math.isnan(out)


@pytest.mark.parametrize(("byte_order", "word_order"), ORDER_PAIRS)
@given(
    text=st.text(st.characters(blacklist_characters="\x00", codec="utf-8"), max_size=30),
    extra=st.integers(0, 3),
)
def test_string_round_trip(byte_order: Order, word_order: Order, text: str, extra: int) -> None:
    length = max(1, (len(text.encode()) + 1) // 2 + extra)
    regs = encode(text, "string", byte_order=byte_order, word_order=word_order, length=length)
    assert len(regs) == length
    assert decode(regs, "string", byte_order=byte_order, word_order=word_order) == text


@pytest.mark.parametrize("byte_order", ORDERS)
@given(value=st.booleans(), bit=st.integers(0, 15))
def test_bool_bit_round_trip(byte_order: Order, value: bool, bit: int) -> None:
    regs = encode(value, "bool", bit=bit, byte_order=byte_order)
    assert decode(regs, "bool", bit=bit, byte_order=byte_order) is value


@pytest.mark.parametrize("value_type", ["u32", "i32", "u64", "f32", "f64"])
@given(data=st.data())
def test_wrong_word_order_gives_a_different_value_unless_symmetric(
    value_type: ValueType, data: st.DataObject
) -> None:
    regs = data.draw(
        st.lists(
            st.integers(0, 0xFFFF), min_size=register_count(value_type), max_size=register_count(value_type)
        )
    )
    big = decode(regs, value_type)
    little = decode(regs, value_type, word_order="little")
    if regs != regs[::-1] and not (isinstance(big, float) and math.isnan(big)):
        assert big != little or (big == 0 and little == 0)  # +0.0 / -0.0 compare equal


# ---------------------------------------------------------------- probe, scale


def test_all_interpretations_covers_every_order() -> None:
    regs = encode(123456, "u32", word_order="little")
    alts = all_interpretations(regs, "u32")
    assert set(alts) == {f"byte_order={b} word_order={w}" for b, w in ORDER_PAIRS}
    assert alts["byte_order=big word_order=little"] == 123456
    assert alts["byte_order=big word_order=big"] != 123456
    assert all_interpretations([0x0102], "u16") == {"byte_order=big": 0x0102, "byte_order=little": 0x0201}
    assert all_interpretations([1], "bool") == {}


def test_all_interpretations_marks_undecodable_as_none() -> None:
    alts = all_interpretations([0x41FF, 0xFE00], "string")
    assert alts["byte_order=big word_order=big"] is None  # 41 FF FE
    assert alts["byte_order=little word_order=big"] is None  # FF 41
    assert alts["byte_order=little word_order=little"] == ""  # 00 ... ends at once


def test_apply_scale_keeps_ints_when_identity() -> None:
    assert apply_scale(7) == 7
    assert isinstance(apply_scale(7), int)
    assert apply_scale(7, 0.5, 1.0) == 4.5
    assert apply_scale(True, 2, 3) is True
    assert apply_scale("x", 2, 3) == "x"


def test_format_registers() -> None:
    assert format_registers([0x12, 0xABCD]) == "0x0012 0xABCD"
    assert format_registers([1, 0], bits=True) == "1 0"
