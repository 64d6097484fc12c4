"""The wiring posts by default: every entry point builds its process with ``bootstrap()``, so an
event it stores (and acks) reaches costing unless a caller opts out explicitly with
``posting=NoCostingHandler()``."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from support.central import payload, register, topic
from support.costing import load, worked_example_master

from central.adapters.db.models_costing import EventPostingRow
from central.adapters.db.models_ingest import EventRow
from central.bootstrap import APPLIERS, Container, bootstrap
from central.service_layer.costing import CostingHandler
from central.service_layer.governance import registered_kinds
from central.service_layer.ingest.seam import NoCostingHandler


def _store_five(c: Container) -> tuple[int, int]:
    """Ingest events 1..5 with the worked example's master data; (events stored, postings)."""
    register(c)
    load(c, worked_example_master())
    result = c.ingest.handle_events(topic(), payload([1, 2, 3, 4, 5]))
    assert result.ack is not None and result.ack[3] == 5
    with c.read_sessions() as s:
        return (s.scalar(select(func.count()).select_from(EventRow)) or 0,
                s.scalar(select(func.count()).select_from(EventPostingRow)) or 0)


def test_bootstrap_without_arguments_posts_every_stored_event(central_db_url: str,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SFSYNC_CENTRAL_DATABASE__URL", central_db_url)
    c = bootstrap()
    try:
        assert isinstance(c.posting, CostingHandler)
        assert _store_five(c) == (5, 5)
    finally:
        c.dispose()


def test_no_costing_is_explicit_and_stores_without_posting(central_db_url: str,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SFSYNC_CENTRAL_DATABASE__URL", central_db_url)
    c = bootstrap(posting=NoCostingHandler())
    try:
        assert c.posting_name == NoCostingHandler.name
        assert _store_five(c) == (5, 0)
    finally:
        c.dispose()


def test_bootstrap_registers_the_explicit_applier_map(central_sqlite_url: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SFSYNC_CENTRAL_DATABASE__URL", central_sqlite_url)
    bootstrap().dispose()
    assert set(APPLIERS) == {"period_reopen", "manual_journal", "master_data_change"}
    assert set(APPLIERS) <= set(registered_kinds())
