"""Recommendations for tests that only need some to exist (the API fuzz): rows as the detector
writes them (``central.service_layer.recommendations``), without running it."""

from __future__ import annotations

from datetime import datetime

from central.adapters.db.models_recommendations import RecommendationRow
from central.bootstrap import Container


def seed_recommendations(container: Container, now: datetime, machine: str, item: str, n: int = 3) -> list[int]:
    """``n`` open cycle-time recommendations on ``machine`` / ``item``; their ids."""
    with container.write_sessions() as s, s.begin():
        rows = [RecommendationRow(kind="anomaly", metric="cycle_time", key=f"anomaly:cycle_time:{machine}:{item}:{i}",
                                  machine=machine, item=item, component=None, work_order=None, plant=None,
                                  message="cycle_time 180 over the threshold 170", value="180", threshold="170",
                                  baseline={"median": "144", "mad": "2", "n": 12, "shift": None},
                                  evidence={"points": []}, count=1, status="open", created=now, last_seen=now)
                for i in range(n)]
        s.add_all(rows)
        s.flush()
        return [r.id for r in rows]
