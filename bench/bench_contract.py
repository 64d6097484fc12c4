"""Wire codec: encoding/decoding a 500-event batch, against raw orjson on the same data."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.results import table, write_section
from bench.timing import best_of
from shared.contract import Event, RawValue, assemble_batch, decode_batch, encode_event

N = 500


def main() -> None:
    t0 = datetime(2026, 11, 25, tzinfo=UTC)
    events = [
        Event(
            seq=i, machine="PRESS-2", kind="count", ts=t0 + timedelta(seconds=i), rx=t0 + timedelta(seconds=i),
            qty=1, raw=RawValue(tag="press2_good", value=i, prev=i - 1),
        )
        for i in range(1, N + 1)
    ]
    encoded = [encode_event(e) for e in events]
    docs = [orjson.loads(b) for b in encoded]
    payload = assemble_batch("P1", "edge-1", "s1", encoded)
    header = {"schema": "sfsync.batch/1", "plant": "P1", "edge": "edge-1", "stream": "s1"}

    raw_dump = best_of(lambda: orjson.dumps({**header, "events": docs}))
    raw_load = best_of(lambda: orjson.loads(payload))
    rows = [
        ["raw orjson.dumps (baseline)", raw_dump, 1.0],
        [
            "assemble_batch (edge hot path: stored bytes joined)",
            best_of(lambda: assemble_batch("P1", "edge-1", "s1", encoded)),
            None,
        ],
        ["encode_event x500 (once, when stored)", best_of(lambda: [encode_event(e) for e in events], number=3), None],
        ["raw orjson.loads (baseline)", raw_load, 1.0],
        ["decode_batch (validate every event)", best_of(lambda: decode_batch(payload), number=5), None],
    ]
    out = []
    for name, secs, _ in rows:
        base = raw_dump if "dumps" in name or "assemble" in name or "encode" in name else raw_load
        out.append([name, f"{secs * 1e3:.3f} ms", f"{N / secs:,.0f} events/s", f"{secs / base:.2f}x"])
    body = (
        f"One batch of {N} count events ({len(payload):,} bytes).\n\n"
        + table(["operation", "per batch", "rate", "vs raw orjson"], out)
    )
    print(body)
    write_section("Wire codec", body)


if __name__ == "__main__":
    main()
