"""Ingest service: the entry point for one MQTT message (events or status), never raising for
bad input.

``IngestService.handle_events(topic, payload)`` decodes, validates and stores a batch in one
transaction (retrying database conflicts), and returns what to acknowledge; the adapter
publishes the ack only after this returned, i.e. after the commit. Unreadable payloads and
batches from unregistered edges are quarantined (and alerted); only a database outage raises
:class:`~central.errors.IngestUnavailable` (the batch is not acked and the edge re-sends it).

Failing closed, one event at a time: the batch is stored on the fast path (one transaction,
bulk inserts, one posting call). If that raises anything but a database outage, the
transaction rolls back and the batch is stored again event by event, each in a savepoint;
an event that still fails is stored as rejected (code ``store_failed``, body kept for a
replay) and the rest of the batch is accepted, posted and acked. Only if even that fails is
the payload quarantined whole (code ``ingest_failed``, not acked). The exception's text goes
to the log, never into a stored reason.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal, TypeVar

from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

from central.adapters.db.models_ingest import EdgeRow, GapRow, StreamRow
from central.adapters.metrics import IngestMetrics
from central.adapters.unit_of_work import SqlAlchemyUnitOfWork
from central.config import IngestSettings
from central.domain.stored_events import StoredEvent
from central.errors import IngestUnavailable
from central.service_layer.alerts import raise_alert_in
from central.service_layer.ingest.posting import post_events
from central.service_layer.ingest.quarantine import quarantine_payload
from central.service_layer.ingest.seam import PostingHandler
from central.service_layer.ingest.store import (
    StagedBatch,
    StoreRefused,
    StoreResult,
    finish_batch,
    stage_batch,
    store_batch,
)
from central.service_layer.unit_of_work import AbstractUnitOfWork
from shared.contract import ContractError, DecodedBatch, Event, EventProblem, decode_batch, decode_status
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


def db_unavailable(exc: BaseException) -> bool:
    """A database outage or conflict worth retrying (connection lost, lock timeout, deadlock,
    serialization failure, pool exhausted), as opposed to a refusal of this batch's data."""
    if isinstance(exc, OperationalError | InterfaceError | PoolTimeout):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def _single(batch: DecodedBatch, seq: int, failed: bool) -> DecodedBatch:
    """The one-event part of ``batch`` holding ``seq``; ``failed``: as a ``store_failed`` problem."""
    events = tuple(e for e in batch.events if e.seq == seq)
    problems = tuple(p for p in batch.problems if p.seq == seq)
    if failed:
        body = events[0].model_dump(mode="json") if events else problems[0].raw
        reason = "central could not store this event (details in the central log); replay it after a fix"
        events, problems = (), (EventProblem(0, seq, "event", reason, body, "store_failed"),)
    return DecodedBatch(batch.plant, batch.edge, batch.stream, events, problems)


@dataclass
class _Run:
    """The messages of one stream in a group: ``(index, payload, batch)`` in arrival order."""

    topic: str
    parts: list[tuple[int, bytes, DecodedBatch]]

    @property
    def stream(self) -> str:
        return self.parts[0][2].stream

    def batch(self) -> tuple[DecodedBatch, int]:
        """The run as one batch (each seq once, in order), and how many repeated seqs it dropped."""
        first = self.parts[0][2]
        if len(self.parts) == 1:
            return first, 0
        events: dict[int, Event] = {}
        problems: dict[int, EventProblem] = {}
        dropped = 0
        for _i, _payload, b in self.parts:
            for ev in b.events:
                if ev.seq in events or ev.seq in problems:
                    dropped += 1
                else:
                    events[ev.seq] = ev
            for pr in b.problems:
                if pr.seq in events or pr.seq in problems:
                    dropped += 1
                else:
                    problems[pr.seq] = pr
        return DecodedBatch(first.plant, first.edge, first.stream, tuple(events[k] for k in sorted(events)),
                            tuple(problems[k] for k in sorted(problems))), dropped


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
        decoded = self._decode(topic, payload)
        if isinstance(decoded, IngestResult):
            return decoded
        return self._store_alone(topic, payload, decoded)

    def handle_events_group(self, messages: Sequence[tuple[str, bytes]]) -> list[IngestResult]:
        """Store several events payloads (``(topic, payload)``, as they arrived) in as few
        transactions as possible, one result per payload in the same order; never raises for bad
        input. Group commit: the worker hands over what was already waiting in its queue, so a
        central behind its edges catches up with one transaction and one posting call for many
        small batches, while a central that keeps up still stores each message as it comes.

        Batches of one stream in a group are stored as one batch (their events in seq order; a seq
        in several of them once: the others are duplicates, as they would be one after the
        other); each of their messages gets the stream's ack after the group. Streams are locked
        in name order (two processes on a shared subscription never wait on each other in a
        cycle). A group whose stream is refused (unregistered edge, another edge's stream) has
        every payload quarantined, as alone. If storing a group together fails for anything but
        a database outage, it rolls back and every payload is stored alone as
        :meth:`handle_events` does, failing closed one event at a time."""
        results: list[IngestResult | None] = [None] * len(messages)
        group: dict[str, _Run] = {}
        for i, (topic, payload) in enumerate(messages):
            decoded = self._decode(topic, payload)
            if isinstance(decoded, IngestResult):
                results[i] = decoded
                continue
            run = group.get(decoded.stream)
            if run is not None and run.topic != topic:  # the same stream on another topic: not one batch
                self._store_group(list(group.values()), results)
                group, run = {}, None
            if run is None:
                group[decoded.stream] = _Run(topic, [(i, payload, decoded)])
            else:
                run.parts.append((i, payload, decoded))
        if group:
            self._store_group(list(group.values()), results)
        assert all(r is not None for r in results)
        return [r for r in results if r is not None]

    def _decode(self, topic: str, payload: bytes) -> DecodedBatch | IngestResult:
        """The payload's batch, or the result of quarantining it (unreadable, wrong topic)."""
        try:
            plant, edge, channel = parse_topic(topic)
            if channel != "events":
                raise ContractError(f"not an events topic: {topic!r}")
        except ContractError as exc:
            return self._quarantine(topic, payload, exc.reason, "unreadable", "bad_topic")
        try:
            batch = decode_batch(payload)
            if (batch.plant, batch.edge) != (plant, edge):
                raise ContractError(
                    f"batch says plant {batch.plant!r} edge {batch.edge!r} but came on topic {topic[:200]!r}",
                    "topic_mismatch",
                )
        except ContractError as exc:
            return self._quarantine(topic, payload, exc.reason, "unreadable", exc.code)
        except Exception:  # a hole in the contract's own checks: quarantined, never a dead worker
            log.exception("decoding a payload on %r raised; quarantined", topic[:200])
            return self._quarantine(topic, payload, "the payload could not be decoded (details in the central log)",
                                    "unreadable", "ingest_failed")
        return batch

    def _store_alone(self, topic: str, payload: bytes, batch: DecodedBatch) -> IngestResult:
        try:
            return self._with_retries(lambda: self._store(topic, payload, batch))
        except IngestUnavailable:
            raise
        except Exception:
            log.exception("batch of stream %s from %s could not be stored even event by event; quarantined",
                          batch.stream, topic[:200])
            self.metrics.failures.inc()
            return self._quarantine(
                topic, payload, "central could not store this batch, even event by event (details in the central log)",
                "ingest_failed", "ingest_failed")

    def _store_group(self, runs: list[_Run], results: list[IngestResult | None]) -> None:
        """Store ``runs`` (one per stream) together, or each message alone when that fails."""
        if len(runs) > 1 or len(runs[0].parts) > 1:
            try:
                together = self._with_retries(lambda: self._store_together(runs))
            except IngestUnavailable:
                raise
            except Exception:
                log.warning("%s batches failed when stored together; storing each alone",
                            sum(len(r.parts) for r in runs), exc_info=True)
                self.metrics.group_fallbacks.inc()
            else:
                for i, result in together.items():
                    results[i] = result
                return
        for i, topic, payload, batch in sorted((i, run.topic, payload, batch) for run in runs
                                               for i, payload, batch in run.parts):
            results[i] = self._store_alone(topic, payload, batch)

    def _store_together(self, runs: list[_Run]) -> dict[int, IngestResult]:
        """One transaction: stage every stream's batch (streams locked in name order), post every
        newly accepted event in one call of the posting seam, finish every batch, commit."""
        t0 = time.perf_counter()
        now = self.clock()
        skew = timedelta(seconds=self.settings.clock_skew_seconds)
        runs = sorted(runs, key=lambda r: r.stream)
        staged: list[StagedBatch | StoreRefused] = []
        with self._uow(now) as uow:
            for run in runs:
                batch, merged_away = run.batch()
                part = stage_batch(uow, batch, now=now, skew=skew,
                                   require_registration=self.settings.require_registration,
                                   require_known_machine=self.settings.require_known_machine)
                if isinstance(part, StoreRefused):
                    for _i, payload, one in run.parts:  # every payload kept, as alone
                        self._refused_in(uow, run.topic, payload, one, part, now)
                else:
                    part.result.duplicates += merged_away
                staged.append(part)
            ready = [part for part in staged if isinstance(part, StagedBatch)]
            refused = post_events(uow, self._seam_in(uow), [ev for part in ready for ev in part.to_post], now)
            refused_by_stream: dict[str, list[StoredEvent]] = {}
            for ev in refused:
                refused_by_stream.setdefault(ev.stream, []).append(ev)
            done: dict[str, StoreResult] = {}
            for part in ready:
                done[part.batch.stream] = finish_batch(uow, part, refused_by_stream.get(part.batch.stream, []), now)
                self._alert_batch(uow, part.batch, done[part.batch.stream])
            uow.commit()
        elapsed = time.perf_counter() - t0
        self.metrics.groups.inc()
        out: dict[int, IngestResult] = {}
        for run, part in zip(runs, staged, strict=True):
            if isinstance(part, StoreRefused):
                out |= {i: self._refused_result(run.topic, part) for i, _p, _b in run.parts}
                continue
            first = self._stored_result(part.batch, done[run.stream], elapsed)  # counted once per stream
            out[run.parts[0][0]] = first
            out |= {i: IngestResult("stored", ack=first.ack, timings=first.timings) for i, _p, _b in run.parts[1:]}
        return out

    def _with_retries(self, work: Callable[[], _T]) -> _T:
        """Run ``work`` (one transaction), retrying database outages with backoff; after
        ``db_retries`` attempts raise :class:`IngestUnavailable` (with a sentence, not the driver's)."""
        attempt = 0
        while True:
            try:
                return work()
            except SQLAlchemyError as exc:
                if not db_unavailable(exc):
                    raise
                attempt += 1
                if attempt > self.settings.db_retries:
                    self.metrics.failures.inc()
                    log.error("database unavailable after %s attempts: %s", attempt, exc)
                    raise IngestUnavailable(f"database unavailable after {attempt} attempts") from exc
                self.metrics.db_retries.inc()
                log.warning("ingest transaction failed (attempt %s), retrying: %s", attempt,
                            getattr(exc, "orig", None) or exc)
                time.sleep(min(2.0, 0.02 * 2**attempt) * (0.5 + random.random()))

    def _uow(self, now: datetime) -> SqlAlchemyUnitOfWork:
        """One transaction at one instant: everything it stamps (rows, alerts) reads ``now``."""
        return SqlAlchemyUnitOfWork(self.sessions, lambda: now)

    def _store(self, topic: str, payload: bytes, batch: DecodedBatch) -> IngestResult:
        t0 = time.perf_counter()
        now = self.clock()
        try:
            with self._uow(now) as uow:
                stored = self._store_in(uow, topic, payload, batch, now)
                uow.commit()
        except Exception as exc:
            if isinstance(exc, SQLAlchemyError) and db_unavailable(exc):
                raise
            log.warning("batch of stream %s (%s events) failed on the fast path; storing it event by event",
                        batch.stream, len(batch.seqs), exc_info=True)
            self.metrics.fallbacks.inc()
            with self._uow(now) as uow:
                stored = self._store_in(uow, topic, payload, batch, now, one_by_one=True)
                uow.commit()
        elapsed = time.perf_counter() - t0
        if isinstance(stored, StoreRefused):
            return self._refused_result(topic, stored)
        return self._stored_result(batch, stored, elapsed)

    def _refused_result(self, topic: str, refused: StoreRefused) -> IngestResult:
        self.metrics.quarantined.inc(1, refused.kind)
        log.warning("quarantined batch from %s (not acked): %s", topic, refused.reason)
        return IngestResult("refused", refused.reason)

    def _stored_result(self, batch: DecodedBatch, stored: StoreResult, elapsed: float) -> IngestResult:
        self._count(batch, stored, elapsed)
        return IngestResult(
            "stored", ack=(batch.plant, batch.edge, batch.stream, stored.acked_through), stored=stored,
            timings={"commit": elapsed},
        )

    def _store_in(self, uow: AbstractUnitOfWork, topic: str, payload: bytes, batch: DecodedBatch, now: datetime,
                  one_by_one: bool = False) -> StoreResult | StoreRefused:
        """Store ``batch`` in ``uow``'s transaction: whole, or ``one_by_one`` (each event in
        a savepoint; one that fails again is stored as a ``store_failed`` rejection)."""
        stored = self._store_each(uow, batch, now) if one_by_one else self._store_part(uow, batch, now)
        if isinstance(stored, StoreRefused):
            self._refused_in(uow, topic, payload, batch, stored, now)
        else:
            self._alert_batch(uow, batch, stored)
        return stored

    def _refused_in(self, uow: AbstractUnitOfWork, topic: str, payload: bytes, batch: DecodedBatch,
                    refused: StoreRefused, now: datetime) -> None:
        """Quarantine a batch that cannot be stored at all, with its alert, in ``uow``'s transaction."""
        quarantine_payload(uow.session, topic, payload, refused.reason, now, refused.kind)
        raise_alert_in(uow, "quarantine", f"quarantine:{refused.kind}:{batch.edge}", refused.reason,
                       detail={"topic": topic, "edge": batch.edge, "stream": batch.stream})

    def _seam_in(self, uow: AbstractUnitOfWork) -> Callable[[Sequence[StoredEvent]], None]:
        """The posting seam bound to ``uow``'s transaction."""
        posting = self.posting

        def post(events: Sequence[StoredEvent]) -> None:
            posting(uow.session, events)

        return post

    def _store_part(self, uow: AbstractUnitOfWork, batch: DecodedBatch, now: datetime) -> StoreResult | StoreRefused:
        return store_batch(
            uow, batch, post=self._seam_in(uow), now=now,
            skew=timedelta(seconds=self.settings.clock_skew_seconds),
            require_registration=self.settings.require_registration,
            require_known_machine=self.settings.require_known_machine,
        )

    def _store_each(self, uow: AbstractUnitOfWork, batch: DecodedBatch, now: datetime) -> StoreResult | StoreRefused:
        total: StoreResult | None = None
        for seq in batch.seqs:
            try:
                with uow.savepoint():
                    part = self._store_part(uow, _single(batch, seq, failed=False), now)
            except Exception as exc:
                if isinstance(exc, SQLAlchemyError) and db_unavailable(exc):
                    raise
                log.error("event %s/%s could not be stored; stored as rejected (store_failed)", batch.stream, seq,
                          exc_info=True)
                with uow.savepoint():
                    part = self._store_part(uow, _single(batch, seq, failed=True), now)
            if isinstance(part, StoreRefused):
                return part
            if total is None:
                total = part
            else:
                total.merge(part)
        assert total is not None  # a decoded batch holds at least one seq
        return total

    def _alert_batch(self, uow: AbstractUnitOfWork, batch: DecodedBatch, stored: StoreResult) -> None:
        if stored.rejected:
            first = stored.rejected[0]
            raise_alert_in(
                uow, "rejected_events", f"rejected:{batch.stream}",
                f"{len(stored.rejected)} event(s) of stream {batch.stream} rejected, e.g. seq {first[0]}: "
                f"{first[1]}: {first[2][:300]}", detail={"edge": batch.edge, "stream": batch.stream},
            )
        if stored.over_limit:
            seq, machine, qty = stored.over_limit[0]
            raise_alert_in(
                uow, "qty_over_limit", f"qty_over_limit:{machine}",
                f"{len(stored.over_limit)} event(s) of stream {batch.stream} over their machine's max_event_qty "
                f"held as suspect, e.g. seq {seq}: machine {machine} qty {qty}",
                detail={"edge": batch.edge, "stream": batch.stream, "machine": machine},
            )
        if stored.clock_skew:
            raise_alert_in(
                uow, "clock_skew", f"clock_skew:{batch.edge}",
                f"edge {batch.edge} sent {stored.clock_skew} event(s) stamped more than "
                f"{self.settings.clock_skew_seconds:g}s ahead; posted at receive time",
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
        for _seq, code, _why in stored.rejected:
            m.rejected.inc(1, code)
        m.over_limit.inc(len(stored.over_limit))
        if stored.newest_ts is not None:
            m.lag.set(max(0.0, (self.clock() - stored.newest_ts).total_seconds()), batch.stream)
        if stored.gaps:
            log.warning("stream %s: gap(s) %s", batch.stream, stored.gaps)

    def _quarantine(self, topic: str, payload: bytes, reason: str, kind: str, code: str) -> IngestResult:
        now = self.clock()

        def work() -> IngestResult:
            with self._uow(now) as uow:
                quarantine_payload(uow.session, topic, payload, reason, now, code)
                raise_alert_in(uow, "quarantine", f"quarantine:{kind}:{topic[:150]}",
                               f"payload on {topic[:200]!r} quarantined: {reason}",
                               detail={"topic": topic[:1000], "code": code})
                uow.commit()
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
                    if online and status is not None:  # issue 14: None from older edges and an empty backlog
                        row.oldest_unacked_ts = status.oldest_unacked_ts
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
            with self._uow(now) as uow:
                gaps = list(uow.session.scalars(select(GapRow).where(
                    GapRow.closed.is_(None), GapRow.alerted.is_(False), GapRow.opened <= limit)))
                for gap in gaps:
                    gap.alerted = True
                    raise_alert_in(uow, "gap", f"gap:{gap.stream}",
                                   f"stream {gap.stream} misses seq {gap.from_seq}..{gap.through_seq} since "
                                   f"{gap.opened.isoformat()}; events after it are held",
                                   detail={"edge": gap.edge, "stream": gap.stream, "gap_id": gap.id})
                uow.commit()
                return len(gaps)

        try:
            return self._with_retries(work)
        except IngestUnavailable as exc:
            log.error("gap check failed: %s", exc)
            return 0
        except Exception:  # never the reason the worker stops; logged and counted
            log.exception("gap check failed")
            self.metrics.worker_errors.inc()
            return 0
