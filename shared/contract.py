"""Wire contract v1: machine events, event batches, acks and status messages.

Validation happens on two levels, as DESIGN.md requires:

* the **header** (JSON object, schema, plant, edge, stream, a list of events each with an
  integer ``seq`` >= 1, strictly increasing, at most 1,000 events and 1 MiB): when it cannot
  be read the payload is refused whole with :class:`ContractError`;
* each **event** on its own: a readable batch yields the valid events plus one
  :class:`EventProblem` per bad event (which seq, which field, why), so central can reject
  those events alone and keep the rest.

Every malformed input raises :class:`ContractError` (or yields an ``EventProblem``), never
another exception.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal

import orjson
from pydantic import (
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
]

BATCH_SCHEMA: Final = "sfsync.batch/1"
MAX_BATCH_EVENTS: Final = 1000
MAX_BATCH_BYTES: Final = 1024 * 1024
ID_PATTERN: Final = r"^[A-Za-z0-9_-]{1,64}$"
MACHINE_PATTERN: Final = r"^[A-Za-z0-9_.-]{1,64}$"
_ID_RE: Final = re.compile(ID_PATTERN)

Kind = Literal["count", "scrap", "state"]
MachineState = Literal["running", "idle", "down", "setup", "planned_stop"]
Flag = Literal["baseline", "rollover", "reset", "suspect"]
ScalarValue = StrictBool | StrictInt | StrictFloat | StrictStr | None


class ContractError(ValueError):
    """A payload that does not follow wire contract v1; ``reason`` says what is wrong."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def format_ts(value: datetime) -> str:
    """UTC ISO 8601 with milliseconds and ``Z``: ``2026-11-25T13:31:18.123Z``."""
    if value.tzinfo is None:
        raise ContractError("timestamp has no time zone")
    utc = value if value.tzinfo is UTC else value.astimezone(UTC)
    return utc.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def parse_ts(value: object) -> datetime:
    """Parse an ISO 8601 timestamp with a zone into an aware UTC datetime."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and 10 <= len(value) <= 40:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"not an ISO 8601 timestamp: {value!r}") from None
    else:
        raise ValueError("timestamp must be an ISO 8601 string")
    if parsed.tzinfo is None:
        raise ValueError("timestamp must carry a time zone (e.g. 'Z')")
    return parsed.astimezone(UTC)


UtcTimestamp = Annotated[
    datetime,
    BeforeValidator(parse_ts),
    PlainSerializer(format_ts, return_type=str),
]


class RawValue(BaseModel):
    """The PLC value that produced an event, and the last value before it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tag: Annotated[StrictStr, Field(min_length=1, max_length=256)]
    value: ScalarValue
    prev: ScalarValue = None


class Event(BaseModel):
    """One machine event (good count, scrap or state change) of one edge stream."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seq: Annotated[StrictInt, Field(ge=1)]
    machine: Annotated[StrictStr, Field(pattern=MACHINE_PATTERN)]
    kind: Kind
    ts: UtcTimestamp
    rx: UtcTimestamp
    qty: Annotated[StrictInt, Field(ge=0)] | None = None
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
    acked_through: Annotated[StrictInt, Field(ge=0)]


class Status(BaseModel):
    """Edge birth/death message (retained; the MQTT will publishes ``offline``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    state: Literal["online", "offline"]
    edge: Annotated[StrictStr, Field(pattern=ID_PATTERN)]
    version: StrictStr = ""
    stream: StrictStr | None = None
    backlog: Annotated[StrictInt, Field(ge=0)] | None = None
    ts: UtcTimestamp | None = None


@dataclass(frozen=True, slots=True)
class EventProblem:
    """One bad event in a readable batch: its position, seq, the field and the reason."""

    index: int
    seq: int
    field: str
    reason: str
    raw: dict[str, Any]


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
            raise ContractError(f"seqs not strictly increasing: {after} follows {before}")


def _loc(err: Any) -> str:
    return ".".join(str(p) for p in err["loc"]) or "event"


def _read_header(obj: Any) -> tuple[str, str, str, list[Any]]:
    if not isinstance(obj, dict):
        raise ContractError("payload is not a JSON object")
    schema = obj.get("schema")
    if schema != BATCH_SCHEMA:
        raise ContractError(f"schema must be {BATCH_SCHEMA!r}, got {schema!r}")
    ids: list[str] = []
    for key in ("plant", "edge", "stream"):
        value = obj.get(key)
        if not isinstance(value, str) or not _ID_RE.match(value):
            raise ContractError(f"{key} missing or not an id matching {ID_PATTERN}: {value!r}")
        ids.append(value)
    extra = set(obj) - {"schema", "plant", "edge", "stream", "events"}
    if extra:
        raise ContractError(f"unknown batch field(s): {', '.join(sorted(extra))}")
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
        if type(seq) is not int or seq < 1:
            raise ContractError(f"events[{i}].seq missing or not an integer >= 1: {seq!r}")
        seqs.append(seq)
    _check_increasing(seqs)
    return seqs


def decode_batch(payload: bytes) -> DecodedBatch:
    """Decode an events payload; raise ContractError if the header cannot be read."""
    if not isinstance(payload, bytes | bytearray | memoryview):
        raise ContractError("payload must be bytes")
    if len(payload) > MAX_BATCH_BYTES:
        raise ContractError(f"payload is {len(payload)} bytes, limit is {MAX_BATCH_BYTES}")
    try:
        obj = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise ContractError(f"not valid JSON: {exc}") from None
    plant, edge, stream, raw_events = _read_header(obj)
    seqs = _read_seqs(raw_events)
    good: list[Event] = []
    problems: list[EventProblem] = []
    for i, (seq, raw) in enumerate(zip(seqs, raw_events, strict=True)):
        try:
            good.append(Event.model_validate(raw))
        except ValidationError as exc:
            err = exc.errors()[0]
            problems.append(EventProblem(i, seq, _loc(err), err["msg"], raw))
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
