"""InfluxDB through the v1 HTTP API (/write with line protocol, /query with InfluxQL).

InfluxDB 1.x (what Debian and Raspberry Pi OS ship) serves only this API, and 2.x/3.x serve
it for compatibility, so it is the one write path that reaches every InfluxDB a user runs.
"""
