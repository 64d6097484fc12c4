"""The current master data, read from ``master_records`` and cached per master version: every
posting reads it, so it is built once per version and engine."""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from central.adapters.db.models_costing import MasterRecordRow, MasterVersionRow
from central.domain.master_snapshot import SECTIONS, Snapshot, to_domain
from central.domain.posting_rules import DEFAULT_RULES, PostingRuleSet

__all__ = ["snapshot", "current_version"]


def current_version(session: Session) -> int:
    return int(session.scalar(select(func.max(MasterVersionRow.id))) or 0)


_cache: dict[tuple[str, int], Snapshot] = {}
_cache_lock = threading.Lock()


def snapshot(session: Session) -> Snapshot:
    """The current master data (periods excluded: read them from ``PeriodRow``), cached per version."""
    version = current_version(session)
    bind = session.get_bind()
    key = (f"{id(bind.engine.pool)}:{bind.engine.url}", version)
    with _cache_lock:
        cached = _cache.get(key)
    if cached is not None:
        return cached
    records: dict[str, list[dict[str, Any]]] = {s: [] for s in SECTIONS}
    for row in session.scalars(select(MasterRecordRow).order_by(MasterRecordRow.section, MasterRecordRow.key)):
        records.setdefault(row.section, []).append(row.data)
    master = to_domain(records, [])
    rules = PostingRuleSet.from_data(version, records["posting_rules"]) if records["posting_rules"] else DEFAULT_RULES
    snap = Snapshot(version, master, rules, records)
    with _cache_lock:
        if len(_cache) > 64:
            _cache.clear()
        _cache[key] = snap
    return snap
