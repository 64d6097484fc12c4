"""Wire contract v1: machine events, event batches, acks and status messages.

Validation happens on two levels, as DESIGN.md requires:

* the **header** (JSON object, schema, plant, edge, stream, a list of events each with an
  integer ``seq`` >= 1, strictly increasing, at most 1,000 events and 1 MiB): when it cannot
  be read the payload is refused whole with :class:`ContractError`;
* each **event** on its own: a readable batch yields the valid events plus one
  :class:`EventProblem` per bad event (which seq, which field, why), so central can reject
  those events alone and keep the rest.

Every malformed input raises :class:`ContractError` (or yields an ``EventProblem``), never
another exception. Both carry a stable ``code`` (tables :data:`QUARANTINE_CODES` and
:data:`REJECTION_CODES`) and one sentence that names the field but never echoes more than a
short clip of the input.

Bounds on the wire (so no value can overflow later arithmetic or a database column):

* ``ts``, ``rx`` (and a status ``ts``): an ISO 8601 instant with a zone, from
  ``2000-01-01T00:00:00Z`` (inclusive) to ``3000-01-01T00:00:00Z`` (exclusive) once in UTC;
* ``seq``, ``qty``, ``acked_through``, ``backlog``: integers within int64 (``seq`` >= 1,
  ``qty`` >= 0); a JSON number beyond 2**64 arrives as a float and is out of range too;
* ``raw.value`` / ``raw.prev``: null, a boolean, an integer within int64, a finite float of
  magnitude below 2**63 (strictly: a JSON integer just below -2**63 arrives rounded to it), or
  a string of at most 256 characters.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal

import orjson
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

__all__ = [
    "BATCH_SCHEMA",
    "MAX_BATCH_BYTES",
    "MAX_BATCH_EVENTS",
    "Ack",
    "Batch",
    "ContractError",
    "DecodedBatch",
    "Event",
    "EventProblem",
    "INT64_MAX",
    "INT64_MIN",
    "QUARANTINE_CODES",
    "REJECTION_CODES",
    "TS_MAX",
    "TS_MIN",
    "Flag",
    "Kind",
    "MachineState",
    "RawValue",
    "Status",
    "decode_ack",
    "decode_batch",
    "decode_status",
    "encode_ack",
    "encode_batch",
    "encode_event",
    "assemble_batch",
    "encode_status",
    "format_ts",
    "parse_ts",
    "problem_of",
]

BATCH_SCHEMA: Final = "sfsync.batch/1"
MAX_BATCH_EVENTS: Final = 1000
MAX_BATCH_BYTES: Final = 1024 * 1024
ID_PATTERN: Final = r"^[A-Za-z0-9_-]{1,64}$"
MACHINE_PATTERN: Final = r"^[A-Za-z0-9_.-]{1,64}$"
_ID_RE: Final = re.compile(ID_PATTERN)
INT64_MAX: Final = 2**63 - 1
INT64_MIN: Final = -(2**63)
TS_MIN: Final = datetime(2000, 1, 1, tzinfo=UTC)
"""Earliest instant on the wire (inclusive): no PLC event of this system predates it."""
TS_MAX: Final = datetime(3000, 1, 1, tzinfo=UTC)
"""First instant past the wire range (exclusive): far from ``datetime.max``, so adding an
offset, a clock-skew allowance or a period length never overflows."""
RAW_STRING_MAX: Final = 256

QUARANTINE_CODES: Final[dict[str, str]] = {
    "bad_topic": "the topic is not sfsync/v1/{plant}/{edge}/events",
    "too_large": "the payload exceeds 1 MiB",
    "not_json": "the payload is not a JSON document",
    "bad_header": "schema, plant, edge, stream or the events list is missing or malformed",
    "bad_seq": "an event's seq is missing, not an integer >= 1, or seqs do not strictly increase",
    "seq_out_of_range": "a seq is beyond the int64 range",
    "topic_mismatch": "plant or edge in the batch differ from the topic's",
    "unregistered_edge": "the edge is not registered (the batch is not acked: the edge keeps it)",
    "wrong_plant": "the edge is registered in another plant",
    "stream_owner": "the stream belongs to another edge",
    "ingest_failed": "central could not store the batch even event by event (see the central log)",
}
"""Why a payload is quarantined whole (``quarantine.code``)."""

REJECTION_CODES: Final[dict[str, str]] = {
    "missing_field": "a required field is absent",
    "unknown_field": "a field the contract does not define",
    "wrong_type": "a field of the wrong JSON type",
    "invalid_value": "a value outside its allowed set or pattern, or fields that contradict the kind",
    "too_long": "a string longer than its limit",
    "out_of_range": "a number outside its bounds (int64, qty >= 0, seq >= 1)",
    "bad_timestamp": "a timestamp that is not ISO 8601 with a zone",
    "ts_out_of_range": "a timestamp outside 2000-01-01T00:00:00Z .. 3000-01-01T00:00:00Z",
    "unknown_machine": "the machine is not in master data",
    "wrong_edge": "the machine belongs to another edge",
    "late_after_gap": "the seq arrived after a controller accepted its gap",
    "posting_failed": "the costing layer refused to post the event",
    "store_failed": "central could not store the event (see the central log)",
}
"""Why one event is stored as rejected (``rejected_events.code``); replayable after a fix."""


def _clip(value: object, limit: int = 40) -> str:
    """A short ``repr`` of untrusted input for a reason sentence."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."

Kind = Literal["count", "scrap", "state"]
MachineState = Literal["running", "idle", "down", "setup", "planned_stop"]
Flag = Literal["baseline", "rollover", "reset", "suspect"]
ScalarValue = StrictBool | StrictInt | StrictFloat | StrictStr | None


class ContractError(ValueError):
    """A payload that does not follow wire contract v1; ``reason`` says what is wrong, ``code``
    is one of :data:`QUARANTINE_CODES`."""

    def __init__(self, reason: str, code: str = "bad_header") -> None:
        self.reason = reason
        self.code = code
        super().__init__(reason)


def format_ts(value: datetime) -> str:
    """UTC ISO 8601 with milliseconds and ``Z``: ``2026-11-25T13:31:18.123Z``."""
    if value.tzinfo is None:
        raise ContractError("timestamp has no time zone")
    utc = value if value.tzinfo is UTC else value.astimezone(UTC)
    return utc.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def parse_ts(value: object) -> datetime:
    """Parse an ISO 8601 timestamp with a zone into an aware UTC datetime within
    [:data:`TS_MIN`, :data:`TS_MAX`).

    Raises a ``ValueError`` (a pydantic ``PydanticCustomError`` of type ``bad_timestamp`` or
    ``ts_out_of_range``), never ``OverflowError``: ``0001-01-01T00:00:00+01:00`` is out of range.
    """
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and 10 <= len(value) <= 40:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise PydanticCustomError("bad_timestamp", "not an ISO 8601 timestamp: {value}",
                                      {"value": _clip(value)}) from None
    else:
        raise PydanticCustomError("bad_timestamp", "timestamp must be an ISO 8601 string of 10 to 40 characters")
    if parsed.tzinfo is None:
        raise PydanticCustomError("bad_timestamp", "timestamp must carry a time zone (e.g. 'Z')")
    try:
        utc = parsed.astimezone(UTC)
    except OverflowError:  # year 1 with a positive offset, year 9999 with a negative one
        utc = None
    if utc is None or not TS_MIN <= utc < TS_MAX:
        raise PydanticCustomError(
            "ts_out_of_range", "timestamp {value} is outside 2000-01-01T00:00:00Z .. 3000-01-01T00:00:00Z",
            {"value": _clip(value if isinstance(value, str) else parsed.isoformat())},
        )
    return utc


def _bounded_scalar(value: ScalarValue) -> ScalarValue:
    """A raw PLC value within the wire bounds (int64, finite float below 2**63, short string)."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            raise PydanticCustomError("int64_range", "integer {value} is beyond the int64 range",
                                      {"value": _clip(value)})
    elif isinstance(value, float):
        if not math.isfinite(value) or not abs(value) < 2.0**63:  # -2**63 as a float may be rounded from below
            raise PydanticCustomError("int64_range", "number {value} is beyond the int64 range",
                                      {"value": _clip(value)})
    elif len(value) > RAW_STRING_MAX:
        raise PydanticCustomError("string_too_long", "string of {length} characters, limit is {limit}",
                                  {"length": len(value), "limit": RAW_STRING_MAX})
    return value


BoundedScalar = Annotated[ScalarValue, AfterValidator(_bounded_scalar)]
Int64 = Annotated[StrictInt, Field(ge=INT64_MIN, le=INT64_MAX)]


UtcTimestamp = Annotated[
    datetime,
    BeforeValidator(parse_ts),
    PlainSerializer(format_ts, return_type=str),
]


class RawValue(BaseModel):
    """The PLC value that produced an event, and the last value before it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tag: Annotated[StrictStr, Field(min_length=1, max_length=256)]
    value: BoundedScalar
    prev: BoundedScalar = None


class Event(BaseModel):
    """One machine event (good count, scrap or state change) of one edge stream."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seq: Annotated[StrictInt, Field(ge=1, le=INT64_MAX)]
    machine: Annotated[StrictStr, Field(pattern=MACHINE_PATTERN)]
    kind: Kind
    ts: UtcTimestamp
    rx: UtcTimestamp
    qty: Annotated[StrictInt, Field(ge=0, le=INT64_MAX)] | None = None
    state: MachineState | None = None
    reason: Annotated[StrictStr, Field(min_length=1, max_length=64)] | None = None
    flags: tuple[Flag, ...] = ()
    raw: RawValue

    @model_validator(mode="after")
    def _fields_match_kind(self) -> Event:
        if self.kind in ("count", "scrap"):
            if self.qty is None:
                raise ValueError(f"qty is required for kind {self.kind!r}")
            if self.state is not None:
                raise ValueError(f"state is not allowed for kind {self.kind!r}")
        else:
            if self.state is None:
                raise ValueError("state is required for kind 'state'")
            if self.qty is not None:
                raise ValueError("qty is not allowed for kind 'state'")
        if len(set(self.flags)) != len(self.flags):
            raise ValueError("flags repeat")
        return self


class Batch(BaseModel):
    """A batch of events of one stream, as published on ``.../events``."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    schema_: Literal["sfsync.batch/1"] = Field(default=BATCH_SCHEMA, alias="schema")
    plant: Annotated[StrictStr, Field(pattern=ID_PATTERN)]
    edge: Annotated[StrictStr, Field(pattern=ID_PATTERN)]
    stream: Annotated[StrictStr, Field(pattern=ID_PATTERN)]
    events: Annotated[list[Event], Field(min_length=1, max_length=MAX_BATCH_EVENTS)]

    @model_validator(mode="after")
    def _seqs_increase(self) -> Batch:
        _check_increasing([e.seq for e in self.events])
        return self


class Ack(BaseModel):
    """Central's retained acknowledgement: every event of ``stream`` up to ``acked_through``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    stream: Annotated[StrictStr, Field(pattern=ID_PATTERN)]
    acked_through: Annotated[StrictInt, Field(ge=0, le=INT64_MAX)]


class Status(BaseModel):
    """Edge birth/death message (retained; the MQTT will publishes ``offline``).

    Receivers ignore fields they do not know (unlike batches and acks, which refuse them): a
    status only informs, so a newer edge's optional fields must not make a central drop the
    message. Centrals before issue 14 refused unknown status fields; an edge talking to one sets
    ``mqtt.status_oldest_unacked = false``."""

    model_config = ConfigDict(extra="ignore", frozen=True, json_schema_extra={"additionalProperties": True})

    state: Literal["online", "offline"]
    edge: Annotated[StrictStr, Field(pattern=ID_PATTERN)]
    version: StrictStr = ""
    stream: StrictStr | None = None
    backlog: Annotated[StrictInt, Field(ge=0, le=INT64_MAX)] | None = None
    ts: UtcTimestamp | None = None
    #: when the oldest event central has not acked was stored (optional, issue 14): a central that
    #: knows it alerts on an edge whose backlog grows old; older edges leave it out. A central older
    #: than this field refused a status carrying it (it refused unknown fields then): such edges set
    #: ``mqtt.status_oldest_unacked = false``.
    oldest_unacked_ts: UtcTimestamp | None = None


@dataclass(frozen=True, slots=True)
class EventProblem:
    """One bad event in a readable batch: its position, seq, the field, the reason (one
    sentence) and its stable ``code`` (one of :data:`REJECTION_CODES`)."""

    index: int
    seq: int
    field: str
    reason: str
    raw: dict[str, Any]
    code: str = "invalid_value"


@dataclass(frozen=True, slots=True)
class DecodedBatch:
    """A batch whose header was readable: the valid events and the problems of the rest."""

    plant: str
    edge: str
    stream: str
    events: tuple[Event, ...]
    problems: tuple[EventProblem, ...]

    @property
    def seqs(self) -> list[int]:
        """Every seq of the batch, valid or not, in order."""
        return sorted([e.seq for e in self.events] + [p.seq for p in self.problems])


def _check_increasing(seqs: list[int]) -> None:
    for before, after in itertools.pairwise(seqs):
        if after <= before:
            raise ContractError(f"seqs not strictly increasing: {after} follows {before}", "bad_seq")


def _loc(err: Any) -> str:
    return ".".join(str(p) for p in err["loc"]) or "event"


_ERROR_CODES: Final[dict[str, str]] = {
    "missing": "missing_field",
    "extra_forbidden": "unknown_field",
    "string_too_long": "too_long",
    "too_long": "too_long",
    "greater_than": "out_of_range",
    "greater_than_equal": "out_of_range",
    "less_than": "out_of_range",
    "less_than_equal": "out_of_range",
    "int64_range": "out_of_range",
    "bad_timestamp": "bad_timestamp",
    "ts_out_of_range": "ts_out_of_range",
}


_UNION_TAGS: Final = frozenset({"bool", "int", "float", "str"})


def problem_of(err: Any) -> tuple[str, str, str]:
    """``(code, field, reason)`` of one pydantic error (the first of an event's errors).

    An integer field given a float beyond 2**63 is ``out_of_range``: JSON numbers past 2**64
    reach us as floats (orjson), so "not an integer" would hide what was wrong."""
    loc = tuple(err["loc"])
    if len(loc) >= 3 and loc[-2] in ("value", "prev") and loc[-1] in _UNION_TAGS:  # no member matched
        field = ".".join(map(str, loc[:-1]))
        return "wrong_type", field, f"{field}: must be null, a boolean, a number or a string"
    field = _loc(err)
    kind = str(err["type"])
    code = _ERROR_CODES.get(kind)
    if code is None:
        value = err.get("input")
        if kind == "int_type" and isinstance(value, float) and not abs(value) < 2.0**63:
            return "out_of_range", field, f"{field}: {_clip(value)} is beyond the int64 range"
        code = "wrong_type" if kind.endswith("_type") else "invalid_value"
    return code, field, f"{field}: {err['msg']}"


def _read_header(obj: Any) -> tuple[str, str, str, list[Any]]:
    if not isinstance(obj, dict):
        raise ContractError("payload is not a JSON object")
    schema = obj.get("schema")
    if schema != BATCH_SCHEMA:
        raise ContractError(f"schema must be {BATCH_SCHEMA!r}, got {_clip(schema)}")
    ids: list[str] = []
    for key in ("plant", "edge", "stream"):
        value = obj.get(key)
        if not isinstance(value, str) or not _ID_RE.match(value):
            raise ContractError(f"{key} missing or not an id matching {ID_PATTERN}: {_clip(value)}")
        ids.append(value)
    extra = set(obj) - {"schema", "plant", "edge", "stream", "events"}
    if extra:
        raise ContractError(f"unknown batch field(s): {_clip(', '.join(sorted(map(str, extra))), 120)}")
    events = obj.get("events")
    if not isinstance(events, list) or not events:
        raise ContractError("events must be a non-empty list")
    if len(events) > MAX_BATCH_EVENTS:
        raise ContractError(f"batch holds {len(events)} events, limit is {MAX_BATCH_EVENTS}")
    return ids[0], ids[1], ids[2], events


def _read_seqs(events: list[Any]) -> list[int]:
    seqs: list[int] = []
    for i, ev in enumerate(events):
        seq = ev.get("seq") if isinstance(ev, dict) else None
        if type(seq) is float and seq >= 2.0**63:
            raise ContractError(f"events[{i}].seq {_clip(seq)} is beyond the int64 range", "seq_out_of_range")
        if type(seq) is not int or seq < 1:
            raise ContractError(f"events[{i}].seq missing or not an integer >= 1: {_clip(seq)}", "bad_seq")
        if seq > INT64_MAX:
            raise ContractError(f"events[{i}].seq {seq} is beyond the int64 range", "seq_out_of_range")
        seqs.append(seq)
    _check_increasing(seqs)
    return seqs


def decode_batch(payload: bytes) -> DecodedBatch:
    """Decode an events payload; raise ContractError if the header cannot be read."""
    if not isinstance(payload, bytes | bytearray | memoryview):
        raise ContractError("payload must be bytes")
    if len(payload) > MAX_BATCH_BYTES:
        raise ContractError(f"payload is {len(payload)} bytes, limit is {MAX_BATCH_BYTES}", "too_large")
    try:
        obj = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise ContractError(f"not valid JSON: {_clip(str(exc), 160)}", "not_json") from None
    plant, edge, stream, raw_events = _read_header(obj)
    seqs = _read_seqs(raw_events)
    good: list[Event] = []
    problems: list[EventProblem] = []
    for i, (seq, raw) in enumerate(zip(seqs, raw_events, strict=True)):
        try:
            good.append(Event.model_validate(raw))
        except ValidationError as exc:
            code, where, why = problem_of(exc.errors()[0])
            problems.append(EventProblem(i, seq, where, why, raw, code))
    return DecodedBatch(plant, edge, stream, tuple(good), tuple(problems))


def encode_event(event: Event) -> bytes:
    """Encode one event to compact JSON (the form the edge outbox stores)."""
    doc: dict[str, Any] = {
        "seq": event.seq,
        "machine": event.machine,
        "kind": event.kind,
        "ts": format_ts(event.ts),
        "rx": format_ts(event.rx),
    }
    if event.qty is not None:
        doc["qty"] = event.qty
    if event.state is not None:
        doc["state"] = event.state
    if event.reason is not None:
        doc["reason"] = event.reason
    raw = event.raw
    doc["flags"] = list(event.flags)
    doc["raw"] = {"tag": raw.tag, "value": raw.value, "prev": raw.prev}
    return orjson.dumps(doc)


def assemble_batch(plant: str, edge: str, stream: str, encoded_events: list[bytes]) -> bytes:
    """Join already-encoded events into a batch payload without re-encoding them.

    This is the edge's hot path: events are encoded once when stored in the outbox and
    re-sent as stored, so building a 500-event batch is a byte join.
    """
    if not encoded_events:
        raise ContractError("a batch needs at least one event")
    if len(encoded_events) > MAX_BATCH_EVENTS:
        raise ContractError(f"batch holds {len(encoded_events)} events, limit is {MAX_BATCH_EVENTS}")
    head = orjson.dumps({"schema": BATCH_SCHEMA, "plant": plant, "edge": edge, "stream": stream})
    payload = b"".join((head[:-1], b',"events":[', b",".join(encoded_events), b"]}"))
    if len(payload) > MAX_BATCH_BYTES:
        raise ContractError(f"payload is {len(payload)} bytes, limit is {MAX_BATCH_BYTES}")
    return payload


def encode_batch(batch: Batch) -> bytes:
    """Encode a validated batch."""
    return assemble_batch(batch.plant, batch.edge, batch.stream, [encode_event(e) for e in batch.events])


def _decode_model(model: type[BaseModel], payload: bytes, what: str) -> Any:
    try:
        return model.model_validate_json(payload)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ContractError(f"bad {what}: {_loc(err)}: {err['msg']}") from None


def encode_ack(ack: Ack) -> bytes:
    return orjson.dumps(ack.model_dump(mode="json"))


def decode_ack(payload: bytes) -> Ack:
    result: Ack = _decode_model(Ack, payload, "ack")
    return result


def encode_status(status: Status) -> bytes:
    return orjson.dumps(status.model_dump(mode="json", exclude_none=True))


def decode_status(payload: bytes) -> Status:
    result: Status = _decode_model(Status, payload, "status")
    return result


def now_utc() -> datetime:
    """Current time, aware UTC (one place, so tests can reason about it)."""
    return datetime.now(UTC)
