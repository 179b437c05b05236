"""The MQTT client the host-side rooms share: one paho `Link` with its reconnect policy,
the `Message` it hands on, and `Endpoint` parsing. The gateway and the cloud ingest both
import it; neither imports the other.
"""
