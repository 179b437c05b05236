"""The parts of the topic tree (docs/protocol.md §1) the gateway needs: what to relay
in each direction, and which topics are retained.

MQTT 3.1.1 clears the retain flag on live deliveries, so the relay cannot copy it from the
incoming message; it re-applies the protocol's per-topic policy instead.
"""

from __future__ import annotations

PREFIX = "gaitlink/v1/"

# Device -> cloud.
UPLINK_FILTERS = (
    PREFIX + "+/imu",
    PREFIX + "+/env",
    PREFIX + "+/status",
    PREFIX + "+/config/reported",
)
# Cloud -> device.
DOWNLINK_FILTERS = (
    PREFIX + "+/config/desired",
    PREFIX + "+/ota",
)
TIME_TOPIC = PREFIX + "time"
# Gateway -> cloud only: several imu frames of one device in one message (protocol §2.5).
# Per device, so the cloud broker's ACL still limits a gateway to its own site's devices.
BATCH_FILTER = PREFIX + "+/imu/batch"
# What a gateway may write to the cloud broker, and the ingest reads.
CLOUD_UPLINK_FILTERS = (*UPLINK_FILTERS, BATCH_FILTER)

_RETAINED_SUFFIXES = ("/status", "/config/desired", "/config/reported", "/ota")


def is_retained(topic: str) -> bool:
    return topic.endswith(_RETAINED_SUFFIXES)


def gateway_status_topic(gateway_id: str) -> str:
    # Under `_gateway/`, which is not a device id (docs/protocol.md §1: ids start with a
    # letter or digit), so the ingest's `gaitlink/v1/+/status` never matches it.
    return f"{PREFIX}_gateway/{gateway_id}/status"
