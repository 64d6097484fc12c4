"""Ingest metrics: every figure central's ingest exposes on ``/metrics``, one registry per process.

The exposition format itself (counters, gauges, histograms, escaping) is :mod:`shared.metrics`,
the same renderer the edge's status endpoint uses.
"""

from __future__ import annotations

from shared.metrics import Counter, Gauge, Histogram, Registry

__all__ = ["Counter", "Gauge", "Histogram", "Registry", "IngestMetrics"]


class IngestMetrics:
    """Every figure the ingest exposes on ``/metrics`` (per process)."""

    def __init__(self) -> None:
        r = self.registry = Registry()
        self.batches = r.add(Counter("sfsync_ingest_batches_total", "Batches committed"))
        self.accepted = r.add(Counter("sfsync_ingest_events_accepted_total", "Events accepted (posted)"))
        self.duplicates = r.add(Counter("sfsync_ingest_duplicates_total", "Events received again (no-ops)"))
        self.held = r.add(Counter("sfsync_ingest_events_held_total", "Events stored behind a gap"))
        self.rejected = r.add(
            Counter("sfsync_ingest_events_rejected_total", "Events stored as rejected", ["reason"])
        )
        self.gaps = r.add(Counter("sfsync_ingest_gaps_total", "Gaps opened in a stream's sequence"))
        self.gaps_accepted = r.add(Counter("sfsync_ingest_gaps_accepted_total", "Gaps accepted by a controller"))
        self.quarantined = r.add(
            Counter("sfsync_ingest_quarantined_total", "Payloads quarantined whole", ["reason"])
        )
        self.clock_skew = r.add(Counter("sfsync_ingest_clock_skew_total", "Events stamped too far ahead"))
        self.db_retries = r.add(Counter("sfsync_ingest_db_retries_total", "Batch transactions retried"))
        self.failures = r.add(Counter("sfsync_ingest_failures_total", "Batches not stored (not acked)"))
        self.fallbacks = r.add(Counter("sfsync_ingest_event_by_event_total",
                                       "Batches stored again event by event after the fast path failed"))
        self.groups = r.add(Counter("sfsync_ingest_groups_total",
                                    "Transactions that stored several waiting events messages together"))
        self.group_fallbacks = r.add(Counter("sfsync_ingest_group_fallbacks_total",
                                             "Groups stored again message by message after the joint store failed"))
        self.over_limit = r.add(Counter("sfsync_ingest_events_over_limit_total",
                                        "Events over their machine's max_event_qty, held as suspect"))
        self.worker_errors = r.add(Counter("sfsync_ingest_worker_errors_total",
                                           "Unexpected errors the ingest worker survived (logged with a traceback)"))
        self.worker_restarts = r.add(Counter("sfsync_ingest_worker_restarts_total",
                                             "Ingest worker threads restarted after dying"))
        self.heartbeat_age = r.add(Gauge("sfsync_ingest_heartbeat_age_seconds",
                                         "Seconds since the ingest worker's last heartbeat (set when scraped)"))
        self.acks = r.add(Counter("sfsync_ingest_acks_published_total", "Acks published"))
        self.status = r.add(Counter("sfsync_ingest_status_messages_total", "Edge status messages"))
        self.queue = r.add(Gauge("sfsync_ingest_queue_depth", "Messages waiting for the ingest worker"))
        self.connected = r.add(Gauge("sfsync_ingest_broker_connected", "1 when the ingest is connected"))
        self.lag = r.add(
            Gauge("sfsync_ingest_lag_seconds", "Commit time minus timestamp of the newest accepted event", ["stream"])
        )
        self.commit_latency = r.add(
            Histogram(
                "sfsync_ingest_batch_commit_seconds",
                "Time to store and commit one batch",
                (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
            )
        )
