"""The audit hash chain and the approval rules, as pure functions (no database)."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from central.domain.audit_chain import (
    GENESIS_HASH,
    ChainRecord,
    ChainVerifier,
    canonical_bytes,
    format_at,
    normalize_json,
    record_hash,
)
from central.domain.governance import Decision, refusal

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)

json_values = st.one_of(st.integers(-(2**63), 2**63 - 1), st.text(max_size=12), st.booleans(), st.none())
details = st.dictionaries(st.text(max_size=8), json_values, max_size=4)
entries = st.tuples(st.sampled_from(["alice", "bob", "carol"]), st.sampled_from(["controller", "admin", None]),
                    st.sampled_from(["x.create", "approval.approve", "http.post"]), st.text(min_size=1, max_size=20),
                    details)


def build(specs: list[tuple[str, str | None, str, str, dict[str, object]]]) -> list[ChainRecord]:
    out: list[ChainRecord] = []
    prev = GENESIS_HASH
    for i, (actor, role, action, target, detail) in enumerate(specs, start=1):
        rec = ChainRecord(i, T0 + timedelta(microseconds=i), actor, role, None, action, target, detail, None, prev)
        rec = dataclasses.replace(rec, hash=record_hash(rec))
        prev = rec.hash
        out.append(rec)
    return out


def verify(records: list[ChainRecord], head: tuple[int, str] | None = None) -> tuple[str, int] | None:
    v = ChainVerifier()
    for r in records:
        v.feed(r)
    if head is None:
        head = (records[-1].seq, records[-1].hash) if records else (0, GENESIS_HASH)
    broken = v.finish(*head)
    return None if broken is None else (broken.code, broken.seq)


@settings(max_examples=30, deadline=None)
@given(st.lists(entries, min_size=1, max_size=12))
def test_an_intact_chain_verifies(specs: list[tuple[str, str | None, str, str, dict[str, object]]]) -> None:
    chain = build(specs)
    assert verify(chain) is None
    assert chain[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(chain))


FIELDS = {
    "actor": "mallory", "role": "auditor", "token_id": "forged", "action": "x.forged", "target": "t/forged",
    "detail": {"forged": True}, "request_digest": "f" * 64, "at": T0 + timedelta(days=1),
}


@settings(max_examples=40, deadline=None)
@given(st.lists(entries, min_size=1, max_size=10), st.data(), st.sampled_from(sorted(FIELDS)))
def test_editing_any_field_of_any_record_is_found_at_that_record(
    specs: list[tuple[str, str | None, str, str, dict[str, object]]], data: st.DataObject, field: str,
) -> None:
    chain = build(specs)
    i = data.draw(st.integers(0, len(chain) - 1))
    if getattr(chain[i], field) == FIELDS[field]:
        return
    chain[i] = dataclasses.replace(chain[i], **{field: FIELDS[field]})
    assert verify(chain, (len(specs), build(specs)[-1].hash)) == ("altered", i + 1)


@settings(max_examples=30, deadline=None)
@given(st.lists(entries, min_size=2, max_size=10), st.data())
def test_rehashing_an_edited_record_breaks_the_next_link(
    specs: list[tuple[str, str | None, str, str, dict[str, object]]], data: st.DataObject,
) -> None:
    chain = build(specs)
    head = (chain[-1].seq, chain[-1].hash)
    i = data.draw(st.integers(0, len(chain) - 1))
    forged = dataclasses.replace(chain[i], actor="mallory-" + chain[i].actor)
    chain[i] = dataclasses.replace(forged, hash=record_hash(forged))
    expected = ("relinked", i + 2) if i + 1 < len(chain) else ("head_mismatch", i + 1)
    assert verify(chain, head) == expected


@settings(max_examples=30, deadline=None)
@given(st.lists(entries, min_size=2, max_size=10), st.data())
def test_deleting_a_record_is_found(specs: list[tuple[str, str | None, str, str, dict[str, object]]],
                                    data: st.DataObject) -> None:
    chain = build(specs)
    head = (chain[-1].seq, chain[-1].hash)
    i = data.draw(st.integers(0, len(chain) - 1))
    del chain[i]
    expected = ("truncated", i + 1) if i == len(chain) else ("missing", i + 1)
    assert verify(chain, head) == expected


def test_inserting_or_reordering_records_is_found() -> None:
    chain = build([("a", None, "x.a", f"t/{i}", {}) for i in range(4)])
    head = (chain[-1].seq, chain[-1].hash)
    forged = dataclasses.replace(chain[1], target="t/forged")
    forged = dataclasses.replace(forged, hash=record_hash(forged))
    assert verify([chain[0], chain[1], forged, *chain[2:]], head) == ("out_of_order", 2)
    assert verify([chain[1], chain[0], *chain[2:]], head) == ("missing", 1)
    renumbered = [chain[0], dataclasses.replace(forged, seq=2), *[dataclasses.replace(r, seq=r.seq + 1)
                                                                    for r in chain[1:]]]
    assert verify(renumbered, head)[0] in {"altered", "relinked"}  # type: ignore[index]


def test_records_beyond_the_head_or_a_moved_head_are_found() -> None:
    chain = build([("a", None, "x.a", "t", {}) for _ in range(3)])
    assert verify(chain, (2, chain[1].hash)) == ("head_mismatch", 3)
    assert verify(chain, (3, "e" * 64)) == ("head_mismatch", 3)
    assert verify([], (0, GENESIS_HASH)) is None
    assert verify([], (1, "e" * 64)) == ("truncated", 1)


def test_the_hash_covers_the_canonical_form_not_key_order() -> None:
    a = ChainRecord(1, T0, "a", None, None, "x", "t", {"b": 1, "a": 2}, None, GENESIS_HASH)
    b = dataclasses.replace(a, detail={"a": 2, "b": 1})
    assert canonical_bytes(a) == canonical_bytes(b) and record_hash(a) == record_hash(b)
    assert record_hash(a) != record_hash(dataclasses.replace(a, detail={"a": 2, "b": "1"}))
    assert format_at(datetime(2026, 1, 2, 3, 4, 5)) == "2026-01-02T03:04:05.000000Z"
    assert format_at(datetime(2026, 1, 2, 4, 4, 5, 7, tzinfo=UTC).astimezone()) == "2026-01-02T04:04:05.000007Z"


def test_detail_normalises_to_plain_json() -> None:
    out = normalize_json({"amount": Decimal("3.10"), "day": date(2026, 11, 1), "ids": (1, 2), "at": T0,
                          "roles": {"b", "a"}})
    assert out == {"amount": "3.10", "day": "2026-11-01", "ids": [1, 2], "at": "2026-11-25T08:00:00+00:00",
                   "roles": ["a", "b"]}
    assert normalize_json(None) == {}
    with pytest.raises(ValueError, match="not JSON"):
        normalize_json({"x": object()})
    with pytest.raises(ValueError, match="not JSON"):
        normalize_json({"x": 2**64})  # would not survive the JSON column: refused when recorded


@pytest.mark.parametrize(
    ("status", "requester", "required", "user", "role", "decision", "expected"),
    [
        ("pending", "alice", "controller", "bob", "controller", Decision.APPROVE, None),
        ("pending", "alice", "controller", "bob", "admin", Decision.APPROVE, None),
        ("pending", "alice", "controller", "alice", "controller", Decision.APPROVE, "own_request"),
        ("pending", "alice", "controller", "alice", "admin", Decision.APPROVE, "own_request"),
        ("pending", "alice", "controller", "bob", "engineer", Decision.APPROVE, "role"),
        ("pending", "alice", "admin", "bob", "controller", Decision.APPROVE, "role"),
        ("approved", "alice", "controller", "bob", "controller", Decision.APPROVE, "state"),
        ("rejected", "alice", "controller", "bob", "controller", Decision.REJECT, "state"),
        ("pending", "alice", "controller", "alice", "engineer", Decision.REJECT, None),  # withdraw
        ("pending", "alice", "controller", "bob", "operator", Decision.REJECT, "role"),
        ("pending", "alice", "controller", "bob", "controller", Decision.REJECT, None),
    ],
)
def test_who_may_decide(status: str, requester: str, required: str, user: str, role: str, decision: Decision,
                        expected: str | None) -> None:
    why = refusal(status=status, requested_by=requester, required_role=required, user=user, role=role,
                  decision=decision)
    assert (why.kind if why else None) == expected
