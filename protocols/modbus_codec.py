"""Modbus register codec: values <-> 16-bit register lists, pure functions.

PLCs disagree on how a 32/64-bit value or a string is laid out over 16-bit registers, so
two settings are kept apart:

- ``byte_order``: the order of the two bytes *inside* each register (``big`` = high byte
  first, the Modbus standard; ``little`` = swapped);
- ``word_order``: the order of the registers of one value (``big`` = most significant
  register first; ``little`` = least significant first, common on many PLCs).

For a 32-bit value with bytes ``A B C D`` (A most significant): big/big = ``ABCD``,
byte big/word little = ``CDAB``, byte little/word big = ``BADC``, little/little = ``DCBA``.

Strings are a sequence of bytes, first character first; ``word_order=little`` reverses the
register list, ``byte_order=little`` swaps the two characters of each register. Trailing
(and everything after the first) NUL bytes end the string.

``bool`` is either a coil/discrete bit (a register list of one 0/1 item) or, with ``bit``,
bit ``0..15`` (0 = least significant) of one register after byte-order correction.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from typing import Final, Literal, get_args

__all__ = [
    "ValueType",
    "Order",
    "VALUE_TYPES",
    "NUMERIC_TYPES",
    "register_count",
    "decode",
    "encode",
    "apply_scale",
    "all_interpretations",
    "format_registers",
    "is_finite",
]

ValueType = Literal["u16", "i16", "u32", "i32", "u64", "f32", "f64", "bool", "string"]
Order = Literal["big", "little"]

VALUE_TYPES: Final[tuple[str, ...]] = get_args(ValueType)
ORDERS: Final[tuple[Order, Order]] = ("big", "little")

# struct format (big-endian) and register count for the fixed-width numeric types
_STRUCT: Final[dict[str, tuple[str, int]]] = {
    "u16": (">H", 1),
    "i16": (">h", 1),
    "u32": (">I", 2),
    "i32": (">i", 2),
    "u64": (">Q", 4),
    "f32": (">f", 2),
    "f64": (">d", 4),
}
NUMERIC_TYPES: Final[tuple[str, ...]] = tuple(_STRUCT)

Value = bool | int | float | str


def register_count(value_type: ValueType, length: int | None = None) -> int:
    """Registers (or bits, for a coil/discrete bool) one value of ``value_type`` occupies."""
    if value_type == "string":
        if length is None or length < 1:
            raise ValueError("string needs a length >= 1 (registers)")
        return length
    if value_type == "bool":
        return 1
    return _STRUCT[value_type][1]


def _words_to_bytes(registers: Sequence[int], byte_order: Order, word_order: Order) -> bytes:
    """Registers as read -> canonical big-endian byte string."""
    words = [_check_register(r).to_bytes(2, "big") for r in registers]
    if byte_order == "little":
        words = [w[::-1] for w in words]
    if word_order == "little":
        words.reverse()
    return b"".join(words)


def _bytes_to_words(data: bytes, byte_order: Order, word_order: Order) -> list[int]:
    """Canonical big-endian byte string -> registers as they are laid out in the PLC."""
    words = [data[i : i + 2] for i in range(0, len(data), 2)]
    if word_order == "little":
        words.reverse()
    if byte_order == "little":
        words = [w[::-1] for w in words]
    return [int.from_bytes(w, "big") for w in words]


def _check_register(value: int) -> int:
    if not 0 <= value <= 0xFFFF:
        raise ValueError(f"register value {value} outside 0..65535")
    return value


def decode(
    registers: Sequence[int],
    value_type: ValueType,
    *,
    byte_order: Order = "big",
    word_order: Order = "big",
    bit: int | None = None,
    encoding: str = "utf-8",
) -> Value:
    """Decode one value from exactly the registers it occupies.

    Raises ``ValueError`` for a wrong register count or undecodable string bytes.
    """
    if value_type == "bool":
        if len(registers) != 1:
            raise ValueError(f"bool needs 1 item, got {len(registers)}")
        if bit is None:
            return bool(registers[0])
        word = int.from_bytes(_words_to_bytes(registers, byte_order, "big"), "big")
        return bool((word >> bit) & 1)
    if value_type == "string":
        raw = _words_to_bytes(registers, byte_order, word_order)
        raw = raw.split(b"\x00", 1)[0]
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError as exc:
            raise ValueError(f"string bytes {raw.hex()} are not valid {encoding}") from exc
    fmt, count = _STRUCT[value_type]
    if len(registers) != count:
        raise ValueError(f"{value_type} needs {count} registers, got {len(registers)}")
    (value,) = struct.unpack(fmt, _words_to_bytes(registers, byte_order, word_order))
    return value  # type: ignore[no-any-return]


def encode(
    value: Value,
    value_type: ValueType,
    *,
    byte_order: Order = "big",
    word_order: Order = "big",
    length: int | None = None,
    bit: int | None = None,
    encoding: str = "utf-8",
) -> list[int]:
    """Encode one value into the registers a PLC with these orders would hold.

    For a bool with ``bit`` the other 15 bits of the register are 0. Raises ``ValueError``
    when the value does not fit the type.
    """
    if value_type == "bool":
        if bit is None:
            return [1 if value else 0]
        word = (1 << bit) if value else 0
        return _bytes_to_words(word.to_bytes(2, "big"), byte_order, "big")
    if value_type == "string":
        if not isinstance(value, str):
            raise ValueError(f"string value must be str, got {type(value).__name__}")
        n = register_count("string", length)
        data = value.encode(encoding)
        if len(data) > 2 * n:
            raise ValueError(f"string of {len(data)} bytes does not fit {n} registers")
        return _bytes_to_words(data.ljust(2 * n, b"\x00"), byte_order, word_order)
    fmt, _count = _STRUCT[value_type]
    if isinstance(value, str):
        raise ValueError(f"{value_type} value must be a number, got str")
    if value_type.startswith("f"):
        number: int | float = float(value)
    else:
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(f"{value_type} value must be an integer, got {value}")
        number = int(value)
    try:
        data = struct.pack(fmt, number)
    except (struct.error, OverflowError) as exc:
        raise ValueError(f"{value!r} does not fit {value_type}") from exc
    return _bytes_to_words(data, byte_order, word_order)


def apply_scale(value: Value, scale: float = 1.0, offset: float = 0.0) -> Value:
    """``value * scale + offset``; integers stay ``int`` when scale is 1 and offset 0."""
    if isinstance(value, (bool, str)) or (scale == 1 and offset == 0):
        return value
    return value * scale + offset


def all_interpretations(
    registers: Sequence[int],
    value_type: ValueType,
    *,
    bit: int | None = None,
    encoding: str = "utf-8",
) -> dict[str, Value | None]:
    """The value under every byte/word order, keyed like the config (for ``probe``).

    Keys are ``"byte_order=X word_order=Y"``; for single-register types only
    ``"byte_order=X"``; a coil/discrete bool has no alternatives. A combination that
    cannot be decoded maps to ``None``.
    """
    if value_type == "bool" and bit is None:
        return {}
    single = value_type in ("u16", "i16", "bool") or len(registers) == 1
    out: dict[str, Value | None] = {}
    for byte_order in ORDERS:
        for word_order in ORDERS[:1] if single else ORDERS:
            key = f"byte_order={byte_order}" if single else f"byte_order={byte_order} word_order={word_order}"
            try:
                out[key] = decode(
                    registers,
                    value_type,
                    byte_order=byte_order,
                    word_order=word_order,
                    bit=bit,
                    encoding=encoding,
                )
            except ValueError:
                out[key] = None
    return out


def is_finite(value: Value) -> bool:
    """False for NaN and +/-inf floats; True for everything else."""
    return not isinstance(value, float) or math.isfinite(value)


def format_registers(registers: Sequence[int], *, bits: bool = False) -> str:
    """Raw registers as hex for people: ``0x1234 0xABCD``; coil/discrete bits as ``0 1``."""
    if bits:
        return " ".join("1" if r else "0" for r in registers)
    return " ".join(f"0x{r:04X}" for r in registers)
