"""The ingest capability: MQTT payloads in, exactly-once committed events out.

Modules, by what they hold:

* :mod:`.handler` — :class:`IngestService`, the entry point for one MQTT message (decode,
  store in one transaction, retry outages, fail closed event by event, quarantine);
* :mod:`.store` — ``store_batch``, the adapter between one decoded batch and the database: it
  loads the stream's state, asks the pure cursor (``central.domain.stream_cursor``) what to do,
  and writes what it decided;
* :mod:`.posting` — hands accepted events to the seam, storing the ones it refuses as rejected;
* :mod:`.operations` — operator actions: accept a gap, replay a rejected event, acknowledge an
  alert, register an edge;
* :mod:`.queries` — the read side for the API;
* :mod:`.quarantine` — payloads refused whole (alerts are ``central.service_layer.alerts``);
* :mod:`.seam` — the posting seam, where costing hooks into the ingest transaction.
"""

from central.service_layer.ingest.handler import IngestResult, IngestService

__all__ = ["IngestResult", "IngestService"]
