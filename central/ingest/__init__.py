"""MQTT ingest of edge event batches: the paho adapter, the runner that feeds the ingest
service, ingest metrics, and the posting seam the costing layer plugs into."""
