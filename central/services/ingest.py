"""Ingest service: the entry point for one MQTT message (events or status), never raising for
bad input.

``IngestService.handle_events(topic, payload)`` decodes, validates and stores a batch in one
transaction (retrying database conflicts), and returns what to acknowledge; the adapter
publishes the ack only after this returned, i.e. after the commit. Unreadable payloads and
batches from unregistered edges are quarantined (and alerted); only a database outage raises
:class:`~central.errors.IngestUnavailable` (the batch is not acked and the edge re-sends it).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal, TypeVar

from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from central.config import IngestSettings
from central.db.models_ingest import EdgeRow, GapRow, StreamRow
from central.errors import IngestUnavailable
from central.ingest.metrics import IngestMetrics
from central.ingest.seam import PostingHandler
from central.services.ingest_alerts import quarantine_payload, raise_alert
from central.services.ingest_store import StoreRefused, StoreResult, store_batch
from shared.contract import ContractError, DecodedBatch, decode_batch, decode_status
from shared.topics import parse_topic

log = logging.getLogger(__name__)

__all__ = ["IngestService", "IngestResult"]

Outcome = Literal["stored", "quarantined", "refused"]
_T = TypeVar("_T")


@dataclass
class IngestResult:
    """What happened to one events payload. ``ack`` is ``(plant, edge, stream, acked_through)``
    when an ack must be published (after the commit), else None."""

    outcome: Outcome
    reason: str | None = None
    ack: tuple[str, str, str, int] | None = None
    stored: StoreResult | None = None
    timings: dict[str, float] = field(default_factory=dict)


def _now() -> datetime:
    return datetime.now(UTC)


class IngestService:
    """Turns MQTT payloads into committed rows; one instance per process, thread-safe."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        settings: IngestSettings,
        posting: PostingHandler,
        metrics: IngestMetrics,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.posting = posting
        self.metrics = metrics
        self.clock = clock

    # -- events ---------------------------------------------------------------------------
    def handle_events(self, topic: str, payload: bytes) -> IngestResult:
        """Store one events payload; never raises for bad input (see the module docstring)."""
        try:
            plant, edge, channel = parse_topic(topic)
            if channel != "events":
                raise ContractError(f"not an events topic: {topic!r}")
            batch = decode_batch(payload)
            if (batch.plant, batch.edge) != (plant, edge):
                raise ContractError(
                    f"batch says plant {batch.plant!r} edge {batch.edge!r} but came on topic {topic!r}"
                )
        except ContractError as exc:
            return self._quarantine(topic, payload, exc.reason, "unreadable")
        return self._with_retries(lambda: self._store(topic, payload, batch))

    def _with_retries(self, work: Callable[[], _T]) -> _T:
        attempt = 0
        while True:
            try:
                return work()
            except OperationalError as exc:
                attempt += 1
                if attempt > self.settings.db_retries:
                    self.metrics.failures.inc()
                    raise IngestUnavailable(f"database unavailable after {attempt} attempts: {exc.orig}") from exc
                self.metrics.db_retries.inc()
                log.warning("ingest transaction failed (attempt %s), retrying: %s", attempt, exc.orig)
                time.sleep(min(2.0, 0.02 * 2**attempt) * (0.5 + random.random()))
            except DBAPIError as exc:
                self.metrics.failures.inc()
                raise IngestUnavailable(f"database error: {exc.orig}") from exc

    def _store(self, topic: str, payload: bytes, batch: DecodedBatch) -> IngestResult:
        t0 = time.perf_counter()
        now = self.clock()
        with self.sessions() as session, session.begin():
            stored = store_batch(
                session, batch, posting=self.posting, now=now,
                skew=timedelta(seconds=self.settings.clock_skew_seconds),
                require_registration=self.settings.require_registration,
                require_known_machine=self.settings.require_known_machine,
            )
            if isinstance(stored, StoreRefused):
                quarantine_payload(session, topic, payload, stored.reason, now)
                raise_alert(session, "quarantine", f"quarantine:{stored.kind}:{batch.edge}", stored.reason, now,
                            detail={"topic": topic, "edge": batch.edge, "stream": batch.stream})
            else:
                self._alert_batch(session, batch, stored, now)
        elapsed = time.perf_counter() - t0
        if isinstance(stored, StoreRefused):
            self.metrics.quarantined.inc(1, stored.kind)
            log.warning("quarantined batch from %s (not acked): %s", topic, stored.reason)
            return IngestResult("refused", stored.reason)
        self._count(batch, stored, elapsed)
        return IngestResult(
            "stored", ack=(batch.plant, batch.edge, batch.stream, stored.acked_through), stored=stored,
            timings={"commit": elapsed},
        )

    def _alert_batch(self, session: Session, batch: DecodedBatch, stored: StoreResult, now: datetime) -> None:
        if stored.rejected:
            first = stored.rejected[0]
            raise_alert(
                session, "rejected_events", f"rejected:{batch.stream}",
                f"{len(stored.rejected)} event(s) of stream {batch.stream} rejected, e.g. seq {first[0]}: "
                f"{first[1]}: {first[2]}", now, detail={"edge": batch.edge, "stream": batch.stream},
            )
        if stored.clock_skew:
            raise_alert(
                session, "clock_skew", f"clock_skew:{batch.edge}",
                f"edge {batch.edge} sent {stored.clock_skew} event(s) stamped more than "
                f"{self.settings.clock_skew_seconds:g}s ahead; posted at receive time", now,
                detail={"edge": batch.edge, "stream": batch.stream},
            )

    def _count(self, batch: DecodedBatch, stored: StoreResult, elapsed: float) -> None:
        m = self.metrics
        m.batches.inc()
        m.commit_latency.observe(elapsed)
        m.accepted.inc(stored.accepted)
        m.duplicates.inc(stored.duplicates)
        m.held.inc(stored.held)
        m.gaps.inc(len(stored.gaps))
        m.clock_skew.inc(stored.clock_skew)
        for _seq, fld, _why in stored.rejected:
            m.rejected.inc(1, fld)
        if stored.newest_ts is not None:
            m.lag.set(max(0.0, (self.clock() - stored.newest_ts).total_seconds()), batch.stream)
        if stored.gaps:
            log.warning("stream %s: gap(s) %s", batch.stream, stored.gaps)

    def _quarantine(self, topic: str, payload: bytes, reason: str, kind: str) -> IngestResult:
        now = self.clock()

        def work() -> IngestResult:
            with self.sessions() as session, session.begin():
                quarantine_payload(session, topic, payload, reason, now)
                raise_alert(session, "quarantine", f"quarantine:{kind}:{topic[:150]}",
                            f"payload on {topic!r} quarantined: {reason}", now, detail={"topic": topic[:1000]})
            return IngestResult("quarantined", reason)

        result = self._with_retries(work)
        self.metrics.quarantined.inc(1, kind)
        log.warning("quarantined payload on %r (%s bytes): %s", topic[:200], len(payload), reason)
        return result

    # -- status ---------------------------------------------------------------------------
    def handle_status(self, topic: str, payload: bytes) -> bool:
        """Record an edge's birth/death message; False (logged, counted) when unusable."""
        self.metrics.status.inc()
        try:
            plant, edge, channel = parse_topic(topic)
            if channel != "status":
                raise ContractError(f"not a status topic: {topic!r}")
            status = decode_status(payload) if payload else None
        except ContractError as exc:
            log.warning("ignored status message on %r: %s", topic[:200], exc.reason)
            return False
        online = status is not None and status.state == "online"
        now = self.clock()

        def work() -> None:
            with self.sessions() as session, session.begin():
                row = session.get(EdgeRow, edge)
                if row is not None:
                    row.online, row.status_at = online, now
                    if status is not None and status.version:
                        row.version = status.version[:64]
                session.execute(update(StreamRow).where(StreamRow.edge == edge).values(online=online, status_at=now))
        self._with_retries(work)
        log.info("edge %s/%s is %s", plant, edge, "online" if online else "offline")
        return True

    # -- periodic -------------------------------------------------------------------------
    def check_gaps(self) -> int:
        """Alert gaps open longer than ``gap_alert_after_seconds`` (once per gap); returns how many."""
        now = self.clock()
        limit = now - timedelta(seconds=self.settings.gap_alert_after_seconds)

        def work() -> int:
            with self.sessions() as session, session.begin():
                gaps = list(session.scalars(select(GapRow).where(
                    GapRow.closed.is_(None), GapRow.alerted.is_(False), GapRow.opened <= limit)))
                for gap in gaps:
                    gap.alerted = True
                    raise_alert(session, "gap", f"gap:{gap.stream}",
                                f"stream {gap.stream} misses seq {gap.from_seq}..{gap.through_seq} since "
                                f"{gap.opened.isoformat()}; events after it are held",
                                now, detail={"edge": gap.edge, "stream": gap.stream, "gap_id": gap.id})
                return len(gaps)

        try:
            return self._with_retries(work)
        except IngestUnavailable as exc:
            log.error("gap check failed: %s", exc)
            return 0
