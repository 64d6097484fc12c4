"""One OPC UA publish response = one snapshot: a subscription that keeps its notifications together.

asyncua 2.1 (iterator mode) explodes each ``PublishResult`` into single events
(``DataChangeEvent`` per monitored item, ``StatusChangeEvent``) and queues them one by one
(``Subscription.publish_callback`` -> ``_explode_notifications`` -> ``_deliver``): the
boundary of the publish response is lost, so a counter and its reason that the PLC changed in
one write would reach the edge as two unrelated events. :class:`SnapshotSubscription` collects
the events exploded from one ``publish_callback`` call and queues them as one
:class:`PublishedSnapshot`. ``publish_callback`` has no ``await`` between its deliveries, so
nothing can interleave with the collection. Everything else (keep-alive bookkeeping,
overflow policy, sequence numbers, delete) is asyncua's own.

:func:`create_snapshot_subscription` mirrors ``Client.create_subscription`` (same parameters,
revision, overflow wiring and registration with the client) with this class.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from asyncua import ua
from asyncua.client.client import Client
from asyncua.common.subscription import OverflowPolicy, SubEvent, Subscription

__all__ = ["PublishedSnapshot", "SnapshotSubscription", "create_snapshot_subscription"]


@dataclass(frozen=True, slots=True)
class PublishedSnapshot:
    """The events of one publish response, in the server's order."""

    events: tuple[SubEvent, ...]


class SnapshotSubscription(Subscription):
    """An iterator-mode subscription whose queue items are :class:`PublishedSnapshot`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._collecting: list[SubEvent] | None = None

    async def publish_callback(self, publish_result: ua.PublishResult) -> None:
        self._collecting = []
        try:
            await super().publish_callback(publish_result)
        finally:
            events, self._collecting = self._collecting, None
        if events:
            # the queue is typed for single events; the consumer (OpcUaSource) knows both
            super()._deliver(cast(SubEvent, PublishedSnapshot(tuple(events))))

    def _deliver(self, event: SubEvent) -> None:
        if self._collecting is not None:
            self._collecting.append(event)
        else:
            super()._deliver(event)


async def create_snapshot_subscription(
    client: Client, period_ms: float, *, queue_maxsize: int, overflow: OverflowPolicy
) -> SnapshotSubscription:
    """``client.create_subscription(period_ms, None, ...)`` with a :class:`SnapshotSubscription`."""
    params = ua.CreateSubscriptionParameters()
    params.RequestedPublishingInterval = period_ms
    params.RequestedLifetimeCount = 10000
    params.RequestedMaxKeepAliveCount = client.get_keepalive_count(period_ms)
    params.MaxNotificationsPerPublish = 10000
    params.PublishingEnabled = True
    params.Priority = 0
    sub = SnapshotSubscription(client.uaclient.session, params, None, queue_maxsize=queue_maxsize, overflow=overflow)
    sub.set_overflow_disconnect_handler(client.uaclient.notify_transport_lost)
    results = await sub.init()
    revised = client.get_subscription_revised_params(params, results)
    if revised:
        await sub.update(revised)
    client._subscriptions.append(sub)  # as Client.create_subscription does (stale watchdog, teardown)
    return sub
