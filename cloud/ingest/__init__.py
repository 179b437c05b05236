"""The cloud ingest service: MQTT in, InfluxDB out, with dedup, dead letters and gait."""
