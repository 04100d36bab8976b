"""Ingest: MQTT batches from gateways in, decoded readings, sightings and counters out."""
