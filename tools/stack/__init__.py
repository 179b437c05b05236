"""The local stack: site broker, cloud broker and InfluxDB on loopback, for demos and tests.

`gaitlink stack up|down|status` and the pytest fixtures in tests/conftest.py both use
`Stack`. See docs/stack.md.
"""

from gaitlink.tools.stack.accounts import Account
from gaitlink.tools.stack.binaries import find_binary
from gaitlink.tools.stack.components import CLOUD_BROKER, INFLUXDB, SITE_BROKER
from gaitlink.tools.stack.errors import ComponentFailed, MissingBinary, PortInUse, StackError
from gaitlink.tools.stack.ports import free_port, free_ports
from gaitlink.tools.stack.stack import ComponentStatus, Stack, influx_query, influx_write

__all__ = [
    "CLOUD_BROKER",
    "INFLUXDB",
    "SITE_BROKER",
    "Account",
    "ComponentFailed",
    "ComponentStatus",
    "MissingBinary",
    "PortInUse",
    "Stack",
    "StackError",
    "find_binary",
    "free_port",
    "free_ports",
    "influx_query",
    "influx_write",
]
