"""JSON Schema of wire contract v1, generated from the models and checked in.

``python -m shared.schema`` rewrites ``shared/wire-v1.schema.json``; a test fails when the
checked-in file and the models disagree, so the published schema cannot drift.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from shared.contract import Ack, Batch, Status

SCHEMA_PATH = Path(__file__).with_name("wire-v1.schema.json")


def wire_schema() -> dict[str, Any]:
    """One document holding the batch, ack and status schemas under ``$defs``."""
    defs: dict[str, Any] = {}
    for name, model in (("Batch", Batch), ("Ack", Ack), ("Status", Status)):
        schema = model.model_json_schema(by_alias=True, ref_template="#/$defs/{model}")
        defs.update(schema.pop("$defs", {}))
        defs[name] = schema
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "urn:shopfloor-sync:wire:v1",
        "title": "shopfloor-sync wire contract v1",
        "description": "Batch limits not expressible here: at most 1 MiB per payload; seqs strictly increase.",
        "$defs": defs,
    }


def render() -> str:
    return json.dumps(wire_schema(), indent=2, sort_keys=True) + "\n"


def main() -> int:
    SCHEMA_PATH.write_text(render())
    print(f"wrote {SCHEMA_PATH}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
