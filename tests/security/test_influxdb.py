"""InfluxDB with authentication: nobody without credentials, each user only its grant."""

from __future__ import annotations

import pytest

from gaitlink.cloud.influx.v1 import InfluxError
from gaitlink.tools.stack import influx_query, influx_write, influxdb


def test_influxdb__refuses_queries_and_writes_without_credentials(stack):
    with pytest.raises(InfluxError, match=r"refused \(401\)"):
        influxdb.query(stack.influx_url, stack.database, "SHOW DATABASES")
    with pytest.raises(InfluxError, match=r"refused \(401\)"):
        influxdb.query(stack.influx_url, stack.database, f'DROP DATABASE "{stack.database}"')
    with pytest.raises(InfluxError, match=r"refused \(401\)"):
        influxdb.write(stack.influx_url, stack.database, "imu,device=sec-x ax=0 1")
    assert influx_query(stack, "SHOW DATABASES")  # the database is still there


def test_influxdb__wrong_password_is_refused(stack):
    user, password = stack.influx_auth("influx_reader")
    with pytest.raises(InfluxError, match=r"refused \(401\)"):
        influxdb.query(stack.influx_url, stack.database, "SHOW MEASUREMENTS", auth=(user, "x"))
    influxdb.query(stack.influx_url, stack.database, "SHOW MEASUREMENTS", auth=(user, password))


def test_influxdb__reader_reads_but_cannot_write_or_drop(stack):
    influx_write(stack, "sec_probe,device=sec-r v=1 1700000000000000000")
    reader = stack.influx_auth("influx_reader")
    rows = influxdb.query(stack.influx_url, stack.database, "SELECT v FROM sec_probe", auth=reader)
    assert [r["v"] for r in rows] == [1]
    with pytest.raises(InfluxError, match=r"refused \(403\)"):
        influxdb.write(stack.influx_url, stack.database, "sec_probe v=2 1", auth=reader)
    with pytest.raises(InfluxError, match=r"not authorized|refused \(403\)"):
        influxdb.query(stack.influx_url, stack.database, "DROP MEASUREMENT sec_probe", auth=reader)


def test_influxdb__writer_writes_but_cannot_drop_or_create_users(stack):
    writer = stack.influx_auth("influx_writer")
    influxdb.write(stack.influx_url, stack.database, "sec_w v=1 1700000000000000000", auth=writer)
    for q in (f'DROP DATABASE "{stack.database}"', "CREATE USER evil WITH PASSWORD 'x'"):
        with pytest.raises(InfluxError, match=r"not authorized|refused \(403\)"):
            influxdb.query(stack.influx_url, stack.database, q, auth=writer)
